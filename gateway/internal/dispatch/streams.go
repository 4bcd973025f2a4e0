package dispatch

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookmesh/hookmesh/gateway/internal/config"
	"github.com/hookmesh/hookmesh/gateway/internal/eventlog"
)

// JetStream layout owned by the dispatcher (the event stream, its subjects and
// the type header are eventlog's). Every name here gets Config.StreamPrefix
// prepended, like the event log's. It needs nats-server 2.10 or later (consumers
// with several filter subjects, consumer metadata).
const (
	// RetryStream holds parked retries (hookmesh.retry.<subscription>) and replay
	// requests (hookmesh.replay.<subscription>), as a work queue.
	RetryStream = "HOOKMESH_RETRY"
	// DLQStream holds dead letters, hookmesh.dlq.<subscription>.<open|closed>.<id>.
	DLQStream = "HOOKMESH_DLQ"
	// DeliveriesBucket is the KV bucket of delivery states, key
	// <b64(source)>.<b64(id)>.<subscription> (base64url without padding).
	DeliveriesBucket = "HOOKMESH_DELIVERIES"
	// ControlBucket is the KV bucket of cluster-wide switches and jobs:
	// paused.<subscription>, replay.<job id>.
	ControlBucket = "HOOKMESH_DISPATCH"

	retrySubjectRoot  = "hookmesh.retry"
	replaySubjectRoot = "hookmesh.replay"
	dlqSubjectRoot    = "hookmesh.dlq"

	// consumerPrefix names the dispatcher's durable consumers; metaSubscription
	// in their metadata says which subscription owns them.
	eventsConsumerPrefix = "dispatch-"
	retryConsumerPrefix  = "dispatch-retry-"
	metaSubscription     = "hookmesh.subscription"
	// metaStartFrom keeps the start_from the event consumer was created with and
	// metaBackfillThrough the event stream's last sequence at that moment (absent
	// for new): the backfill is done once the ack floor reaches it.
	metaStartFrom       = "hookmesh.start_from"
	metaBackfillThrough = "hookmesh.backfill_through"
)

// Message headers of parked retries and replay requests (and the event type,
// eventlog.HeaderType, on every message).
const (
	hdrType      = eventlog.HeaderType
	hdrAttempt   = "Hookmesh-Attempt"    // number of the attempt this message is for
	hdrCycle     = "Hookmesh-Cycle"      // delivery cycle: e<event seq> or p<replay seq>
	hdrReplay    = "Hookmesh-Replay"     // "1" for operator replays
	hdrNotBefore = "Hookmesh-Not-Before" // RFC 3339 nano time the attempt is due
	hdrSeq       = "Hookmesh-Seq"        // the event's sequence in the event stream
	hdrReceived  = "Hookmesh-Received"   // when the log received the event (RFC 3339 nano)
	hdrForce     = "Hookmesh-Force"      // "1": replay even if the filter does not select it
)

var b64 = base64.RawURLEncoding

func stateKey(source, id, sub string) string {
	return b64.EncodeToString([]byte(source)) + "." + b64.EncodeToString([]byte(id)) + "." + sub
}

func eventsConsumerName(sub string) string { return eventsConsumerPrefix + sub }
func retryConsumerName(sub string) string  { return retryConsumerPrefix + sub }

// names are the layout's names with Config.StreamPrefix applied (as the event
// log applies its StreamPrefix: prepended to stream, bucket and subject names).
type names struct {
	log                            eventlog.Layout
	retry, dlq, states, control    string
	retryRoot, replayRoot, dlqRoot string
}

func newNames(prefix string) names {
	return names{
		log:   eventlog.LayoutFor(prefix),
		retry: prefix + RetryStream, dlq: prefix + DLQStream,
		states: prefix + DeliveriesBucket, control: prefix + ControlBucket,
		retryRoot: prefix + retrySubjectRoot, replayRoot: prefix + replaySubjectRoot, dlqRoot: prefix + dlqSubjectRoot,
	}
}

func (n names) eventsAll() string               { return n.log.SubjectFilter() }
func (n names) eventsOf(source string) string   { return n.log.SourceFilter(source) }
func (n names) retrySubject(sub string) string  { return n.retryRoot + "." + sub }
func (n names) replaySubject(sub string) string { return n.replayRoot + "." + sub }
func (n names) dlqSubject(sub, state, id string) string {
	return n.dlqRoot + "." + sub + "." + state + "." + id
}

type layout struct {
	names
	events   jetstream.Stream
	retry    jetstream.Stream
	dlq      jetstream.Stream
	states   jetstream.KeyValue
	control  jetstream.KeyValue
	replicas int
}

func ensureLayout(ctx context.Context, js jetstream.JetStream, cfg *Config) (*layout, error) {
	l := &layout{names: newNames(cfg.StreamPrefix), replicas: cfg.Replicas}
	var err error
	if l.events, err = js.Stream(ctx, l.log.Stream()); err != nil {
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return nil, fmt.Errorf("event stream %s does not exist (open the event log first): %w", l.log.Stream(), err)
		}
		return nil, fmt.Errorf("event stream: %w", err)
	}
	if l.retry, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        l.names.retry,
		Description: "hookmesh: parked retries and replay requests",
		Subjects:    []string{l.retryRoot + ".>", l.replayRoot + ".>"},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
		MaxAge:      cfg.StateTTL,
		Duplicates:  2 * time.Minute,
	}); err != nil {
		return nil, fmt.Errorf("retry stream: %w", err)
	}
	if l.dlq, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        l.names.dlq,
		Description: "hookmesh: dead letters",
		Subjects:    []string{l.dlqRoot + ".>"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
		MaxAge:      cfg.DeadLetterTTL,
		Duplicates:  2 * time.Minute,
		AllowDirect: true,
	}); err != nil {
		return nil, fmt.Errorf("dead-letter stream: %w", err)
	}
	if l.states, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      l.names.states,
		Description: "hookmesh: delivery state per event and subscription",
		History:     1,
		TTL:         cfg.StateTTL,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
	}); err != nil {
		return nil, fmt.Errorf("delivery state bucket: %w", err)
	}
	if l.control, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      l.names.control,
		Description: "hookmesh: paused subscriptions and replay jobs",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
	}); err != nil {
		return nil, fmt.Errorf("control bucket: %w", err)
	}
	return l, nil
}

// ensureConsumers creates or updates the two durable consumers of sub. The event
// consumer's start position (s.StartFrom) is set only when it is created; an
// existing one keeps its own, as JetStream cannot move a durable consumer.
func (l *layout) ensureConsumers(ctx context.Context, s *Subscription, ackWait time.Duration, log *slog.Logger) (events, retry jetstream.Consumer, err error) {
	meta := map[string]string{metaSubscription: s.Name}
	cfg := jetstream.ConsumerConfig{
		Durable:       eventsConsumerName(s.Name),
		Description:   "hookmesh dispatcher: subscription " + s.Name,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait,
		MaxDeliver:    -1,
		MaxAckPending: s.MaxInFlight,
		FilterSubject: l.eventsAll(),
		Replicas:      l.replicas,
		Metadata:      map[string]string{metaSubscription: s.Name},
	}
	if err := l.startPosition(ctx, s, &cfg, log); err != nil {
		return nil, nil, fmt.Errorf("subscription %q: event consumer: %w", s.Name, err)
	}
	if events, err = l.events.CreateOrUpdateConsumer(ctx, cfg); err != nil {
		return nil, nil, fmt.Errorf("subscription %q: event consumer: %w", s.Name, err)
	}
	retry, err = l.retry.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:       retryConsumerName(s.Name),
		Description:   "hookmesh dispatcher: retries and replays of " + s.Name,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait,
		MaxDeliver:    -1,
		// Parked messages wait here (NAK with delay) without holding a delivery slot.
		MaxAckPending:  retryMaxAckPending,
		FilterSubjects: []string{l.retrySubject(s.Name), l.replaySubject(s.Name)},
		Replicas:       l.replicas,
		Metadata:       meta,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("subscription %q: retry consumer: %w", s.Name, err)
	}
	return events, retry, nil
}

// startPosition sets cfg's deliver policy and start metadata: the existing
// consumer's when there is one (logging a changed start_from), s.StartFrom's
// otherwise.
func (l *layout) startPosition(ctx context.Context, s *Subscription, cfg *jetstream.ConsumerConfig, log *slog.Logger) error {
	want := s.StartFrom
	if want == "" {
		want = config.StartFromNew
	}
	c, err := l.events.Consumer(ctx, cfg.Durable)
	switch {
	case err == nil:
		old := c.CachedInfo().Config
		cfg.DeliverPolicy, cfg.OptStartSeq, cfg.OptStartTime = old.DeliverPolicy, old.OptStartSeq, old.OptStartTime
		had := old.Metadata[metaStartFrom]
		if had == "" {
			had = config.StartFromNew // created before start_from existed
		}
		cfg.Metadata[metaStartFrom] = had
		if v, ok := old.Metadata[metaBackfillThrough]; ok {
			cfg.Metadata[metaBackfillThrough] = v
		}
		if had != want {
			log.Info("start_from applies only to a new subscription; keeping the consumer's position",
				"subscription", s.Name, "start_from", want, "consumer_start_from", had)
		}
		return nil
	case !errors.Is(err, jetstream.ErrConsumerNotFound):
		return err
	}
	all, from, err := config.ParseStartFrom(want, time.Now())
	if err != nil {
		return err
	}
	cfg.Metadata[metaStartFrom] = want
	switch {
	case all:
		cfg.DeliverPolicy = jetstream.DeliverAllPolicy
	case !from.IsZero():
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &from
	default:
		cfg.DeliverPolicy = jetstream.DeliverNewPolicy
		return nil
	}
	info, err := l.events.Info(ctx)
	if err != nil {
		return fmt.Errorf("event stream info: %w", err)
	}
	cfg.Metadata[metaBackfillThrough] = strconv.FormatUint(info.State.LastSeq, 10)
	return nil
}

// retryMaxAckPending bounds parked retries in flight per subscription; beyond it
// the rest wait in the stream until earlier ones are delivered.
const retryMaxAckPending = 100_000

// orphans lists subscriptions that own consumers but are not configured.
func (l *layout) orphans(ctx context.Context, configured map[string]bool) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for _, st := range []jetstream.Stream{l.events, l.retry} {
		lister := st.ListConsumers(ctx)
		for ci := range lister.Info() {
			name := ci.Config.Metadata[metaSubscription]
			if name == "" || configured[name] || seen[name] {
				continue
			}
			seen[name] = true
			out = append(out, name)
		}
		if err := lister.Err(); err != nil {
			return nil, fmt.Errorf("list consumers: %w", err)
		}
	}
	return out, nil
}

// prune deletes a removed subscription's consumers and parked retries.
func (l *layout) prune(ctx context.Context, sub string) error {
	for _, c := range []struct {
		st   jetstream.Stream
		name string
	}{{l.events, eventsConsumerName(sub)}, {l.retry, retryConsumerName(sub)}} {
		if err := c.st.DeleteConsumer(ctx, c.name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			return fmt.Errorf("delete consumer %s: %w", c.name, err)
		}
	}
	for _, subj := range []string{l.retrySubject(sub), l.replaySubject(sub)} {
		if err := l.retry.Purge(ctx, jetstream.WithPurgeSubject(subj)); err != nil {
			return fmt.Errorf("purge %s: %w", subj, err)
		}
	}
	return nil
}
