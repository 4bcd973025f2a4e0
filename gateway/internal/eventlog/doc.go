// Package eventlog is hookmesh's durable event log on NATS JetStream: every accepted
// webhook becomes one event, stored once per (source, id) within the dedupe horizon,
// and acknowledged only after JetStream stored it (DESIGN.md Promises 1 and 2).
//
// # Server
//
// With no URL the log runs the nats-server/v2 module in-process: a file store in
// DataDir/eventlog, no TCP listener at all (never port 4222), in-process connections,
// max_payload 8 MiB, and with Sync "always" an fsync before every acknowledgement.
// With a URL it connects to an external server or cluster and refuses to start when the
// server is older than MinServerVersion or its max_payload is below
// RequiredPayload(MaxBodyBytes). Test and CI binaries come from scripts/nats-server.sh,
// built from the same module version the gateway embeds.
//
// # Layout
//
//   - Stream HOOKMESH_EVENTS, subjects hookmesh.events.>, file storage, Replicas,
//     limits MaxAge and MaxBytes with DiscardNew: when full, new events are refused
//     (ErrFull, HTTP 503) and old ones are never dropped. An event is published on
//     hookmesh.events.<source> with headers Nats-Msg-Id: <source>/<id> and
//     Hookmesh-Type: <type>; the data is proto.Marshal(*eventv1.Event).
//   - KV bucket HOOKMESH_EVENT_IDS, TTL = DedupeHorizon: key <escaped id>.<source>,
//     value the event's stream sequence.
//   - Durable consumer HOOKMESH_EVENTS_INDEXER on the stream, which fills the bucket.
//
// Config.StreamPrefix is prepended to every name (stream, subjects, bucket, consumer).
//
// # Dedupe over days
//
// JetStream's Nats-Msg-Id window is atomic but held in server memory, so it stays
// short (DedupeWindow, 2 minutes). It is backed by the index bucket, which is built
// from the log itself: the indexer consumer writes each stored event's key and only
// then acknowledges the event. Append checks the bucket, then publishes with the
// Msg-Id; nothing is written on the request path before the publish, so a crash at
// any point either leaves no event (the sender's retry is accepted) or leaves the
// event, which the index will hold because the indexer re-reads everything it has not
// acknowledged. Concurrent duplicates race only inside the window, where JetStream
// settles them. The index needs to cover only events older than the window, so the
// log takes writes while the oldest event not yet indexed is younger than half the
// window (measured on the server's clock); otherwise — after a restart, until the
// indexer has caught up past the window, or while the bucket cannot be written —
// Append and Ready answer ErrUnavailable.
//
// Cost of the horizon (BenchmarkIndexCost with 1,000,000 events, half Stripe-style
// 28-character evt_ ids, half UUIDs, embedded server):
//
//   - disk: 93 MiB per million ids within the horizon (~98 bytes per id: the key in
//     the record's subject, the sequence, record header and checksum);
//   - memory: about 260 MiB of server heap per million ids (its per-subject index of
//     the bucket, measured as the heap the second half of the ids added);
//   - the Nats-Msg-Id window also holds every id of the last DedupeWindow in memory.
//
// So a gateway taking 1 million events a day holds ~4 million ids at the default
// 4-day horizon: ~375 MiB on disk and ~1 GiB of server memory.
//
// # Reads
//
// Get finds an event through the index (leader reads with replicas > 1) and falls
// back to scanning the parts of the log the index does not cover (older than the
// horizon, or not indexed yet). List pages newest first with an opaque cursor,
// reading the stream with batched direct gets.
//
// # Fault injection
//
// Config.Fault is called at the named points FaultChecked, FaultPublished,
// FaultIndexing and FaultIndexed; the crash tests SIGKILL a child process there.
package eventlog
