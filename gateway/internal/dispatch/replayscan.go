package dispatch

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	adminv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/admin/v1"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
)

// scanner walks what a bulk replay selects, after cursor and up to limit (a
// stream sequence), calling fn for each match (fn nil: count only); run returns
// the count. stream is the stream it reads.
type scanner struct {
	stream jetstream.Stream
	run    func(ctx context.Context, cursor, limit uint64, fn func(match) error) (int64, error)
}

// scanner is the job's walk: the open dead letters (dead_letters_only) or the
// events of the event stream.
func (d *Dispatcher) scanner(req *adminv1.CreateReplayRequest) scanner {
	if req.GetDeadLettersOnly() {
		return scanner{stream: d.l.dlq, run: func(ctx context.Context, cursor, limit uint64, fn func(match) error) (int64, error) {
			return d.scanDeadLetters(ctx, req, cursor, limit, fn)
		}}
	}
	return scanner{stream: d.l.events, run: func(ctx context.Context, cursor, limit uint64, fn func(match) error) (int64, error) {
		return d.scanEvents(ctx, req, cursor, limit, fn)
	}}
}

// skipUndecodable says that a message a replay cannot decode is left out. Only
// the counting pass (fn nil) reports it, so each job reports it once.
func (d *Dispatcher) skipUndecodable(ctx context.Context, counting bool, msg jetstream.Msg, err error) {
	if !counting {
		return
	}
	d.m.replaySkipped.WithLabelValues(skipUndecodable).Inc()
	d.log.WarnContext(ctx, "replay skips an undecodable message", "subject", msg.Subject(), "error", err)
}

// scanDeadLetters matches the open dead letters of the job's subscription (or
// all) whose event fits the job's source, type and received-time range.
func (d *Dispatcher) scanDeadLetters(ctx context.Context, req *adminv1.CreateReplayRequest, cursor, limit uint64, fn func(match) error) (int64, error) {
	sub := "*"
	if req.GetSubscription() != "" {
		sub = req.GetSubscription()
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{d.l.dlqSubject(sub, "open", "*")}}
	if cursor > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, cursor+1
	}
	var n int64
	err := scan(ctx, d.l.dlq, cfg, func(msg jetstream.Msg) error {
		md, err := msg.Metadata()
		if err != nil {
			return fmt.Errorf("metadata: %w", err)
		}
		if md.Sequence.Stream > limit {
			return errStopScan
		}
		dl := &adminv1.DeadLetter{}
		if err := proto.Unmarshal(msg.Data(), dl); err != nil {
			d.skipUndecodable(ctx, fn == nil, msg, err)
			return nil
		}
		if !d.replaySelects(req, dl.GetEvent()) || d.byName[dl.GetSubscription()] == nil {
			return nil
		}
		n++
		if fn == nil {
			return nil
		}
		m, err := d.deadLetterMatch(ctx, msg, md.Sequence.Stream, dl)
		if err != nil {
			return err
		}
		return fn(m)
	})
	return n, err
}

// replaySelects applies the job's source, type and received-time range to ev.
func (d *Dispatcher) replaySelects(req *adminv1.CreateReplayRequest, ev *eventv1.Event) bool {
	rt := ev.GetReceivedTime().AsTime()
	return (req.GetSource() == "" || ev.GetSource() == req.GetSource()) &&
		(req.GetType() == "" || MatchType(req.GetType(), ev.GetType())) &&
		!rt.Before(req.GetSince().AsTime()) && rt.Before(req.GetUntil().AsTime())
}

// deadLetterMatch is the replay of dead letter dl (at seq in the DLQ stream).
func (d *Dispatcher) deadLetterMatch(ctx context.Context, msg jetstream.Msg, seq uint64, dl *adminv1.DeadLetter) (match, error) {
	ev := dl.GetEvent()
	data, err := proto.Marshal(ev)
	if err != nil {
		return match{}, fmt.Errorf("marshal event: %w", err)
	}
	var evSeq uint64
	if rec, err := d.st.get(ctx, stateKey(ev.GetSource(), ev.GetId(), dl.GetSubscription())); err == nil && rec != nil {
		evSeq = rec.Seq
	}
	raw := &jetstream.RawStreamMsg{Subject: msg.Subject(), Sequence: seq, Data: msg.Data()}
	return match{ev: ev, data: data, seq: evSeq, subs: []string{dl.GetSubscription()}, dead: raw, deadID: dl.GetId(), cursor: seq}, nil
}

// scanEvents matches the events of the job's source (or all) stored in its time
// range, with the subscriptions (the job's, or all) that route them.
func (d *Dispatcher) scanEvents(ctx context.Context, req *adminv1.CreateReplayRequest, cursor, limit uint64, fn func(match) error) (int64, error) {
	since, until := req.GetSince().AsTime(), req.GetUntil().AsTime()
	subject := d.l.eventsAll()
	if req.GetSource() != "" {
		subject = d.l.eventsOf(req.GetSource())
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}}
	if cursor > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, cursor+1
	} else {
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &since
	}
	var n int64
	err := scan(ctx, d.l.events, cfg, func(msg jetstream.Msg) error {
		md, err := msg.Metadata()
		if err != nil {
			return fmt.Errorf("metadata: %w", err)
		}
		if !md.Timestamp.Before(until) || md.Sequence.Stream > limit {
			return errStopScan
		}
		if md.Timestamp.Before(since) {
			return nil
		}
		if typ := msg.Headers().Get(hdrType); typ != "" && req.GetType() != "" && !MatchType(req.GetType(), typ) {
			return nil
		}
		ev := &eventv1.Event{}
		if err := proto.Unmarshal(msg.Data(), ev); err != nil {
			d.skipUndecodable(ctx, fn == nil, msg, err)
			return nil
		}
		if req.GetType() != "" && !MatchType(req.GetType(), ev.GetType()) {
			return nil
		}
		subs, err := d.routedTo(ev, req.GetSubscription())
		if err != nil || len(subs) == 0 {
			return err
		}
		n++
		if fn == nil {
			return nil
		}
		return fn(match{ev: ev, data: msg.Data(), seq: md.Sequence.Stream, subs: subs, cursor: md.Sequence.Stream})
	})
	return n, err
}

// routedTo lists the subscriptions (only, or all when "") that route ev.
func (d *Dispatcher) routedTo(ev *eventv1.Event, only string) ([]string, error) {
	var evMap map[string]any
	var subs []string
	for _, w := range d.workers {
		if only != "" && w.sub.Name != only || !w.globs.match(ev.GetType()) {
			continue
		}
		if w.filter != nil && evMap == nil {
			var err error
			if evMap, err = eventMap(ev); err != nil {
				return nil, err
			}
		}
		if w.routes(ev, evMap) {
			subs = append(subs, w.sub.Name)
		}
	}
	return subs, nil
}
