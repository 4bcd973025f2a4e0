package console

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
	"github.com/hookmesh/hookmesh/platform/httpserver"
	"github.com/hookmesh/hookmesh/platform/restgw"
)

// EventSummary is one event of the live stream: the data of an SSE message of type
// "event" whose id is the event's sequence in the log.
type EventSummary struct {
	Seq          uint64 `json:"seq"`
	ID           string `json:"id"`
	Source       string `json:"source"`
	Type         string `json:"type"`
	Subject      string `json:"subject,omitempty"`
	Time         string `json:"time,omitempty"`
	ReceivedTime string `json:"received_time,omitempty"`
}

func summarize(seq uint64, ev *eventv1.Event) EventSummary {
	s := EventSummary{Seq: seq, ID: ev.GetId(), Source: ev.GetSource(), Type: ev.GetType(), Subject: ev.GetSubject()}
	if ev.GetTime() != nil {
		s.Time = ev.GetTime().AsTime().UTC().Format(time.RFC3339Nano)
	}
	if ev.GetReceivedTime() != nil {
		s.ReceivedTime = ev.GetReceivedTime().AsTime().UTC().Format(time.RFC3339Nano)
	}
	return s
}

// stream serves the event log as server-sent events: first the last Backlog events
// (or, on reconnect, everything after Last-Event-ID), then new ones as they are
// appended. An ordered consumer is ephemeral and unacknowledged: watching the
// console never holds back deliveries.
func (c *Console) stream(w http.ResponseWriter, r *http.Request) {
	if !c.authorized(r) {
		restgw.WriteError(w, http.StatusUnauthorized, "unauthenticated", "log in to the console first")
		return
	}
	if !c.track() {
		restgw.WriteError(w, http.StatusServiceUnavailable, "unavailable", "the gateway is shutting down")
		return
	}
	defer c.streams.Done()
	ctx, cancel := c.mergeDone(r.Context())
	defer cancel()

	start, err := c.startSeq(ctx, r)
	if err != nil {
		c.cfg.Logger.WarnContext(ctx, "console stream: read log state", "error", err)
		restgw.WriteError(w, http.StatusServiceUnavailable, "log_unavailable", "the event log cannot be read now")
		return
	}
	cons, err := c.cfg.Log.JetStream().OrderedConsumer(ctx, c.cfg.Log.Stream(), jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{c.cfg.Log.SubjectFilter()},
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    start,
	})
	if err != nil {
		c.cfg.Logger.WarnContext(ctx, "console stream: create consumer", "error", err)
		restgw.WriteError(w, http.StatusServiceUnavailable, "log_unavailable", "the event log cannot be read now")
		return
	}
	it, err := cons.Messages()
	if err != nil {
		c.cfg.Logger.WarnContext(ctx, "console stream: consume", "error", err)
		restgw.WriteError(w, http.StatusServiceUnavailable, "log_unavailable", "the event log cannot be read now")
		return
	}
	defer it.Stop()
	msgs := make(chan jetstream.Msg)
	failed := make(chan error, 1)
	go func() {
		for {
			m, err := it.Next()
			if err != nil {
				failed <- err
				return
			}
			select {
			case msgs <- m:
			case <-ctx.Done():
				return
			}
		}
	}()

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // proxies must not buffer a live stream
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	send := func(s string) bool {
		// The server's write timeout would end a live stream: each send gets its own.
		_ = rc.SetWriteDeadline(time.Now().Add(httpserver.DefaultWriteTimeout))
		if _, err := fmt.Fprint(w, s); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !send("retry: 2000\n: connected\n\n") {
		return
	}
	tick := time.NewTicker(c.cfg.Heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case err := <-failed:
			if ctx.Err() == nil {
				c.cfg.Logger.WarnContext(ctx, "console stream ended", "error", err)
			}
			return
		case <-tick.C:
			if !send(": keep-alive\n\n") {
				return
			}
		case m := <-msgs:
			line, ok := c.encode(ctx, m)
			if ok && !send(line) {
				return
			}
		}
	}
}

// startSeq is the first sequence to send: after Last-Event-ID when the browser
// reconnects, else the last Backlog events.
func (c *Console) startSeq(ctx context.Context, r *http.Request) (uint64, error) {
	if v := r.Header.Get("Last-Event-ID"); v != "" {
		if n, err := strconv.ParseUint(v, 10, 64); err == nil {
			return n + 1, nil
		}
	}
	s, err := c.cfg.Log.JetStream().Stream(ctx, c.cfg.Log.Stream())
	if err != nil {
		return 0, fmt.Errorf("stream: %w", err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("stream info: %w", err)
	}
	last := info.State.LastSeq
	if last < uint64(c.cfg.Backlog) {
		return 1, nil
	}
	return last - uint64(c.cfg.Backlog) + 1, nil
}

// encode renders one log message as an SSE message; undecodable ones are skipped.
func (c *Console) encode(ctx context.Context, m jetstream.Msg) (string, bool) {
	meta, err := m.Metadata()
	if err != nil {
		c.cfg.Logger.WarnContext(ctx, "console stream: message metadata", "error", err)
		return "", false
	}
	var ev eventv1.Event
	if err := proto.Unmarshal(m.Data(), &ev); err != nil {
		c.cfg.Logger.WarnContext(ctx, "console stream: undecodable event", "seq", meta.Sequence.Stream, "error", err)
		return "", false
	}
	b, err := json.Marshal(summarize(meta.Sequence.Stream, &ev))
	if err != nil {
		return "", false
	}
	return "id: " + strconv.FormatUint(meta.Sequence.Stream, 10) + "\nevent: event\ndata: " + string(b) + "\n\n", true
}
