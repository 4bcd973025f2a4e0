package consumertest

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	consumerv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/consumer/v1"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
)

// batch delivers evs in one DeliverBatch (first attempts) and returns each event's
// code; it skips tb when the consumer does not implement the RPC.
func (s *suite) batch(tb testing.TB, evs ...*eventv1.Event) []*consumerv1.DeliveryStatus {
	tb.Helper()
	req := &consumerv1.DeliverBatchRequest{Subscription: s.cfg.Subscription}
	for _, ev := range evs {
		req.Deliveries = append(req.Deliveries, &consumerv1.BatchDelivery{Event: ev, Attempt: 1})
	}
	ctx, cancel := context.WithTimeout(tb.Context(), s.cfg.Timeout)
	defer cancel()
	resp, err := s.cfg.Client.DeliverBatch(ctx, req)
	if status.Code(err) == codes.Unimplemented {
		tb.Skip("DeliverBatch is UNIMPLEMENTED: the consumer takes events one by one (allowed)")
	}
	if err != nil {
		tb.Fatalf("DeliverBatch of %d events: %v", len(evs), err)
	}
	if got := len(resp.GetStatuses()); got != len(evs) {
		tb.Fatalf("DeliverBatch of %d events returned %d statuses", len(evs), got)
	}
	return resp.GetStatuses()
}

func code(st *consumerv1.DeliveryStatus) codes.Code { return codes.Code(st.GetCode()) }

func checkBatch(tb testing.TB, s *suite) {
	seen := s.event(tb, "batch-seen")
	if c, msg := s.call(seen, 1, false); c != codes.OK {
		tb.Fatalf("single delivery before the batch: %v (%s)", c, msg)
	}
	a, b := s.event(tb, "batch-a"), s.event(tb, "batch-b")
	st := s.batch(tb, a, proto.Clone(seen).(*eventv1.Event), b)
	for i, want := range []string{"new event", "event delivered before", "new event"} {
		if !Done[code(st[i])] {
			tb.Errorf("batch event %d (%s): code %v (%s), want OK or ALREADY_EXISTS", i, want, code(st[i]), st[i].GetMessage())
		}
	}
	if code(st[0]) != codes.OK || code(st[2]) != codes.OK {
		tb.Errorf("new events of a batch: codes %v and %v, want OK", code(st[0]), code(st[2]))
	}
	for _, ev := range []*eventv1.Event{a, seen, b} {
		s.wantEffects(tb, ev, 1, "after a batch")
	}
}

func checkBatchTerminalAndRetry(tb testing.TB, s *suite) {
	if s.cfg.Invalid == nil {
		tb.Skip("Config.Invalid is nil: the consumer declares no event it rejects")
	}
	ok1, ok2 := s.event(tb, "batch-mixed-1"), s.event(tb, "batch-mixed-2")
	evs := []*eventv1.Event{ok1, proto.Clone(s.cfg.Invalid).(*eventv1.Event), ok2}
	var retry *eventv1.Event
	if s.cfg.Retryable != nil {
		retry = s.cfg.Retryable(s.prefix + "-batch-retry")
		evs = append(evs, retry)
	}
	st := s.batch(tb, evs...)
	if code(st[0]) != codes.OK || code(st[2]) != codes.OK {
		tb.Errorf("valid events beside a bad one: codes %v (%s), %v (%s), want OK: one event's failure must not fail its batch",
			code(st[0]), st[0].GetMessage(), code(st[2]), st[2].GetMessage())
	}
	if !Terminal[code(st[1])] {
		tb.Errorf("invalid event in a batch: code %v (%s), want a terminal code", code(st[1]), st[1].GetMessage())
	}
	s.wantEffects(tb, ok1, 1, "valid event of a batch with a terminal failure")
	s.wantEffects(tb, ok2, 1, "valid event of a batch with a terminal failure")
	s.wantEffects(tb, s.cfg.Invalid, 0, "invalid event of a batch")
	if retry == nil {
		return
	}
	if c := code(st[3]); Done[c] || Terminal[c] {
		tb.Errorf("retryable event in a batch: code %v (%s), want a retry code", c, st[3].GetMessage())
	}
	if d := st[3].GetRetryDelay(); d != nil && d.AsDuration() < 0 {
		tb.Errorf("retryable event: negative retry delay %v", d.AsDuration())
	}
	s.wantEffects(tb, retry, 0, "retryable event of a batch")
}

func checkBatchRedelivery(tb testing.TB, s *suite) {
	evs := []*eventv1.Event{s.event(tb, "batch-again-1"), s.event(tb, "batch-again-2"), s.event(tb, "batch-again-3")}
	for round := range 2 {
		copies := make([]*eventv1.Event, len(evs))
		for i, ev := range evs {
			copies[i] = proto.Clone(ev).(*eventv1.Event)
		}
		for i, st := range s.batch(tb, copies...) {
			if !Done[code(st)] {
				tb.Errorf("round %d, event %d: code %v (%s), want OK or ALREADY_EXISTS", round, i, code(st), st.GetMessage())
			}
		}
	}
	// The same event twice in one batch is one effect too.
	twice := s.event(tb, "batch-twice")
	for i, st := range s.batch(tb, twice, proto.Clone(twice).(*eventv1.Event)) {
		if !Done[code(st)] && Terminal[code(st)] {
			tb.Errorf("duplicate %d within a batch: terminal code %v (%s)", i, code(st), st.GetMessage())
		}
	}
	s.settle(twice, 2)
	for _, ev := range append(evs, twice) {
		s.wantEffects(tb, ev, 1, "after a batch was delivered again")
	}
}

func checkBatchMissingIdentity(tb testing.TB, s *suite) {
	noID := s.event(tb, "batch-no-id")
	noID.Id = ""
	good := s.event(tb, "batch-beside-no-id")
	st := s.batch(tb, noID, good)
	if !Terminal[code(st[0])] {
		tb.Errorf("event without an id in a batch: code %v (%s), want a terminal code", code(st[0]), st[0].GetMessage())
	}
	if code(st[1]) != codes.OK {
		tb.Errorf("valid event beside one without an id: code %v (%s), want OK", code(st[1]), st[1].GetMessage())
	}
	s.wantEffects(tb, good, 1, "valid event beside one without an id")
}
