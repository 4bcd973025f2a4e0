// Package spanattr is the one list of span attribute keys every hookmesh
// component shares, and the OpenTelemetry messaging-convention attributes and
// names of the delivery spans (docs/observability.md describes each).
package spanattr

import (
	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
)

// Span attribute keys every component shares. Component-specific keys
// (hookmesh.email.*, hookmesh.orders.*) stay with their component.
const (
	// The event: its source (the route that took it, or cron/scheduled), id and type.
	KeyEventSource = attribute.Key("hookmesh.event.source")
	KeyEventID     = attribute.Key("hookmesh.event.id")
	KeyEventType   = attribute.Key("hookmesh.event.type")

	// A delivery: its subscription, attempt number, replay flag and how it ended.
	KeySubscription     = attribute.Key("hookmesh.subscription")
	KeyAttempt          = attribute.Key("hookmesh.attempt")
	KeyReplay           = attribute.Key("hookmesh.replay")
	KeyDeliveryOutcome  = attribute.Key("hookmesh.delivery.outcome")
	KeyRetryDelayMS     = attribute.Key("hookmesh.retry.delay_ms")
	KeyDeadLetterID     = attribute.Key("hookmesh.dead_letter.id")
	KeyDeadLetterReason = attribute.Key("hookmesh.dead_letter.reason")

	// Ingest and appends.
	KeyIngestStatus = attribute.Key("hookmesh.ingest.status")
	KeyAppendResult = attribute.Key("hookmesh.append.result")
	KeyDuplicate    = attribute.Key("hookmesh.duplicate")

	// The scheduler.
	KeySchedule      = attribute.Key("hookmesh.schedule")
	KeyScheduledTime = attribute.Key("hookmesh.scheduled_time")
)

// MessagingSystem is messaging.system of hookmesh's spans: events travel
// through NATS JetStream (a value outside semconv's list, which allows that).
const MessagingSystem = "nats"

// EventAttributes are the event's source, id and type.
func EventAttributes(source, id, typ string) []attribute.KeyValue {
	return []attribute.KeyValue{KeyEventSource.String(source), KeyEventID.String(id), KeyEventType.String(typ)}
}

// Messaging operations of the OpenTelemetry messaging conventions that hookmesh's
// delivery spans use.
const (
	// OpSend: the dispatcher hands an event to a subscription's consumer.
	OpSend = "send"
	// OpProcess: a consumer service processes a delivered event.
	OpProcess = "process"
)

// DeliverySpanName is the conventional "<operation> <destination>" span name of
// a delivery to subscription (send) or of its processing (process).
func DeliverySpanName(op, subscription string) string { return op + " " + subscription }

// DeliveryMessaging are the messaging attributes of a delivery span: the
// destination and the consumer group are the subscription (each subscription is
// its own durable consumer feeding one target), the message id the event's id.
func DeliveryMessaging(op, subscription, eventID string) []attribute.KeyValue {
	opType := semconv.MessagingOperationTypeSend
	if op == OpProcess {
		opType = semconv.MessagingOperationTypeProcess
	}
	return []attribute.KeyValue{
		semconv.MessagingSystemKey.String(MessagingSystem),
		opType,
		semconv.MessagingOperationName(op),
		semconv.MessagingDestinationName(subscription),
		semconv.MessagingMessageID(eventID),
		semconv.MessagingConsumerGroupName(subscription),
	}
}
