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
//     (ErrFull, HTTP 503) and old ones are never dropped. Each event has its own
//     subject, hookmesh.events.<source>.<key>, where key is the id escaped to a
//     subject token ([A-Za-z0-9_-] kept, any other byte written =XX; an escaped id
//     over 256 bytes becomes "==" + its SHA-256). Header Hookmesh-Type: <type>; the
//     data is proto.Marshal(*eventv1.Event). Consumers take every event with
//     hookmesh.events.> and one source's with hookmesh.events.<source>.>.
//
// Config.StreamPrefix is prepended to the stream name and the subjects.
//
// # Dedupe over days
//
// The log itself is the index. An event is published with
// Nats-Expected-Last-Subject-Sequence: 0 on its own subject, so the stream stores it
// only if no event with the same (source, id) is stored yet; otherwise the server
// answers "wrong last sequence: N", and N is the earlier event (Duplicate, Seq N).
// The check and the write are one step inside the server (a clustered stream's
// leader also refuses a subject whose write is still in flight; that answers
// ErrUnavailable, and the sender's retry gets the duplicate). So concurrent duplicates
// cannot both pass, and a crash between any two steps leaves either no event (the
// retry is accepted) or the stored event (the retry is a duplicate). Nothing is
// written besides the event, nothing needs catching up after a restart, and an id is
// recognised for as long as its event is kept: MaxAge must be -1 or at least
// DedupeHorizon (Open refuses a shorter one). JetStream's Nats-Msg-Id window plays
// no part (appends carry no Nats-Msg-Id, so the server keeps no ids in memory for
// it); DedupeWindow only sets the stream's window.
//
// A stream holding events of the earlier layout (every event of a source on
// hookmesh.events.<source>, with a separate index bucket) is refused at Open, since
// their ids would not be recognised.
//
// Cost of the horizon (BenchmarkHorizonCost with 1,000,000 events, half Stripe-style
// 28-character evt_ ids, half UUIDs, embedded server):
//
//   - memory: about 195 MiB of server heap per million events kept (the stream's
//     per-subject index), for as long as the events are kept (MaxAge);
//   - disk: the key in each record's subject, about 33 bytes per event.
//
// So a gateway taking 1 million events a day with the default retention of 7 days
// holds ~7 million ids: ~1.3 GiB of server memory and ~220 MiB of keys on disk.
// Setting max_age to the 4-day horizon halves that to ~0.75 GiB.
//
// # Failover
//
// Append sends the event's one publish again, unchanged, while it gets no usable
// answer (no answer within Config.AttemptTimeout, no responders while a stream leader
// is elected, a connection moving to another node, the subject in flight), until
// Config.Timeout or ctx's deadline; with no connection to any node for a whole
// attempt, it gives up at once (503). Every attempt carries
// Nats-Expected-Last-Subject-Sequence: 0, so at most one is stored. A retry that
// finds the subject written ("wrong last sequence: N") after an attempt that may have
// landed reads message N: byte for byte the event this call sent means its own
// earlier attempt was stored and the acknowledgement lost (accepted); anything else
// is another sender's copy (duplicate). JetStream's Nats-Msg-Id window is not used
// for this: it would hold every id of the window in server memory.
//
// # Readiness
//
// Ready (/readyz) is true while an append was answered within readyFresh (2 s) with
// none failing since; otherwise it asks the stream's leader for the stream's info
// (at most once per probeInterval, 1 s, each probe bounded by 1 s), so it turns false
// about 3 s after appends stall — a lost leader before its successor is elected, a
// lost only replica — and true again with the first answered append or probe.
//
// # Reads
//
// Get reads an event by its subject (through the stream leader with replicas > 1);
// without a source it reads hookmesh.events.*.<key>, and the newest wins. List
// pages newest first with an opaque cursor, reading the stream with batched direct
// gets.
//
// # Fault injection
//
// Config.Fault is called at the named points FaultChecked (before the publish) and
// FaultPublished (after the acknowledgement); the crash tests SIGKILL a child
// process there.
package eventlog
