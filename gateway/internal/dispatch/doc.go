// Package dispatch fans events out of the event log to every subscribed
// EventConsumerService over gRPC: one durable JetStream pull consumer per
// subscription on the event log's stream (shared by every gateway process), the
// consumer contract's status codes classified into done / retry later / dead
// letter, retries parked in the log so they hold no delivery slot, dead letters
// with every attempt, per-event delivery state, replays (one event or a throttled
// bulk job) and a cluster-wide pause.
//
// Lifecycle: New (validates, creates streams, buckets and consumers), Start
// (begins delivering), Stop (drains in-flight attempts until its ctx ends, then
// cancels them: a shutdown's own CANCELLED is a retry, the message is returned to
// the log and redelivered at once to another gateway or after restart).
//
// # Layout
//
// The event stream, its subjects and the Hookmesh-Type header belong to eventlog
// (eventlog.StreamName, eventlog.SubjectRoot, eventlog.HeaderType). The dispatcher
// owns, each prefixed with Config.StreamPrefix like the log's names:
//
//   - RetryStream (work queue): parked retries on hookmesh.retry.<sub> and replay
//     requests on hookmesh.replay.<sub>;
//   - DLQStream: dead letters on hookmesh.dlq.<sub>.<open|closed>.<id>;
//   - DeliveriesBucket: one record (state, cycle, every attempt) per
//     <b64(source)>.<b64(id)>.<sub>;
//   - ControlBucket: paused.<sub> flags and replay.<job id> bulk jobs.
//
// Each subscription has two durable consumers: dispatch-<sub> on the event stream
// (every event; other types are acknowledged without decoding) and
// dispatch-retry-<sub> on RetryStream (its parked retries and replay requests).
// dispatch-<sub> starts where Subscription.StartFrom says when it is created
// (new, all, or a receive time: a backfill) and never moves after that; its
// metadata keeps that start_from and the stream's last sequence then, which
// ListSubscriptions compares with its ack floor to show the backfill's progress.
//
// # Cycles
//
// A cycle is one run of attempts of one event for one subscription, bounded by the
// retry policy. The first is named e<seq>, after the event's sequence in the event
// stream; each replay request starts a new one, p<seq>, after the request's
// sequence in RetryStream. Attempt numbers restart at 1 in each cycle. The record
// keeps the current cycle; a message of an older cycle is acknowledged unseen, and
// a dead letter's id is derived from (subscription, source, id, cycle), so one
// cycle has at most one dead letter.
//
// # States
//
// The record's state, as GET /v1/events/{id} shows it:
//
//	            event stream message (e<seq>)         replay request (p<seq>)
//	                      │                                    │
//	         type/filter  │                                    ▼
//	FILTERED ◄────────────┤                                 PENDING ◄── ReplayEvent,
//	(acked)               ▼                                    │        bulk job
//	                 ┌─ attempt ◄─────────────────────────────┘
//	                 │    │ ▲
//	        OK,      │    │ │ due: parked message
//	 ALREADY_EXISTS  │    │ │ (dispatch-retry-<sub>)
//	                 │    ▼ │
//	                 │ RETRYING ── park hookmesh.retry.<sub>, Not-Before
//	                 │    │
//	                 │    │ exhausted, or a terminal code
//	                 ▼    ▼
//	          DELIVERED  DEAD ── dead letter hookmesh.dlq.<sub>.open.<id>
//
// PENDING is also what an event routed to a subscription shows before its first
// attempt (no record yet). A shutdown's own CANCELLED writes RETRYING with no
// parked retry and returns the message to the log (NAK) for immediate
// redelivery. A FILTERED or DEAD delivery leaves that state only through a replay,
// which closes the open dead letter as "replayed".
//
// # Order of writes
//
// Every step writes the record before it moves the message on, so that a crash
// between any two writes leaves a message that JetStream redelivers and a record
// that tells the redelivery what is already done (finished):
//
//   - delivered: record DELIVERED, then ack (a record that failed to write is only
//     logged: a redelivery would be answered ALREADY_EXISTS);
//   - retry: record RETRYING with Next and Parked, then publish the next attempt to
//     hookmesh.retry.<sub> (Nats-Msg-Id retry/<sub>/<key>/<cycle>/<n>), then ack.
//     The state comes before the park because the parked attempt may be due at
//     once and must find this attempt in the history. A failed park writes
//     Parked=false and NAKs the message with the delay instead;
//   - dead: publish the dead letter (Nats-Msg-Id dlq/<id>), then record DEAD with
//     its id, then terminate the event message (a parked message is acked). The
//     dead letter comes before the term so that no failure is ever lost;
//   - filtered: record FILTERED, then ack.
//
// A failed state write before the message moves on NAKs it with a delay.
//
// # The finished bound
//
// A redelivered message (delivery count above 1, or any parked message) reads
// the record first. It is finished, and acknowledged without an attempt, when the
// record has moved to another cycle (unless the message starts that cycle), when
// the cycle is DELIVERED or DEAD, or when it is RETRYING with a parked retry that
// will run. The last holds only until Next + timeout + AckMargin + 1 minute: a
// record that long overdue means the park failed after the state was written (a
// crash between the two), and the redelivered event message delivers from there.
// Every redelivered event message is counted in
// hookmesh_dispatch_redeliveries_total; parked messages are not (they are NAKed
// by the dispatcher itself until due).
//
// # Errors
//
// Operations the admin API calls return errors wrapping ErrInvalid, ErrNotFound,
// ErrConflict, ErrUnavailable or ErrCorrupt (errors.Is), and nothing else decides
// a gRPC code: gateway/internal/admin maps them.
package dispatch
