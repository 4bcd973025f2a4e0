package fulfillment_test

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookmesh/hookmesh/platform/eventually"
	"github.com/hookmesh/hookmesh/services/orders/internal/fulfillment"
	"github.com/hookmesh/hookmesh/services/orders/internal/fulfillment/fulfillmenttest"
	"github.com/hookmesh/hookmesh/services/orders/internal/orders"
	"github.com/hookmesh/hookmesh/services/orders/internal/outbox"
)

var secret = "whsec_" + base64.StdEncoding.EncodeToString([]byte("a-32-byte-fulfillment-test-key!!"))

// memOutbox is the store seam in memory.
type memOutbox struct {
	mu   sync.Mutex
	rows map[string]*orders.Notification
}

func newOutbox(ns ...orders.Notification) *memOutbox {
	m := &memOutbox{rows: map[string]*orders.Notification{}}
	for _, n := range ns {
		m.rows[n.ID] = &n
	}
	return m
}

func (m *memOutbox) ClaimNotifications(_ context.Context, now, lease time.Time, limit int) ([]orders.Notification, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []orders.Notification
	for _, n := range m.rows {
		if len(out) < limit && n.Status == orders.NotificationPending && !n.NextAttemptAt.After(now) {
			n.NextAttemptAt = lease
			out = append(out, *n)
		}
	}
	return out, nil
}

func (m *memOutbox) RecordNotificationAttempt(_ context.Context, id string, a orders.Attempt) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.rows[id]
	n.Attempts++
	n.LastError, n.LastStatusCode, n.NextAttemptAt = a.Error, a.StatusCode, a.NextAt
	switch {
	case a.Done:
		n.Status, n.DeliveredAt = orders.NotificationDelivered, a.At
	case a.NextAt.IsZero():
		n.Status = orders.NotificationFailed
	}
	return nil
}

func (m *memOutbox) NextNotificationDue(context.Context) (time.Time, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var next time.Time
	for _, n := range m.rows {
		if n.Status == orders.NotificationPending && (next.IsZero() || n.NextAttemptAt.Before(next)) {
			next = n.NextAttemptAt
		}
	}
	return next, !next.IsZero(), nil
}

func (m *memOutbox) get(id string) orders.Notification {
	m.mu.Lock()
	defer m.mu.Unlock()
	return *m.rows[id]
}

func notification(id string) orders.Notification {
	return orders.Notification{
		ID: id, OrderID: "o-" + id, ShipmentID: "s-" + id, Status: orders.NotificationPending,
		Body: []byte(`{"type":"shipment.created","data":{"order_id":"o-` + id + `"}}`), NextAttemptAt: time.Now(),
	}
}

func run(t *testing.T, cfg fulfillment.Config, ob *memOutbox) {
	t.Helper()
	if cfg.Secret == "" {
		cfg.Secret = secret
	}
	if cfg.Backoff == (outbox.Backoff{}) {
		cfg.Backoff = outbox.Backoff{Initial: 10 * time.Millisecond, Max: 40 * time.Millisecond}
	}
	cfg.Poll = 20 * time.Millisecond
	s, err := fulfillment.New(cfg, ob)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

func TestSender(t *testing.T) {
	t.Run("delivers a signed webhook once", func(t *testing.T) {
		recv := fulfillmenttest.NewReceiver(t, secret)
		ob := newOutbox(notification("msg_1"))
		run(t, fulfillment.Config{URL: recv.URL}, ob)
		eventually.True(t, 15*time.Second, "delivered", func() bool { return ob.get("msg_1").Status == orders.NotificationDelivered })
		got := recv.Accepted()
		if len(got) != 1 || got[0].ID != "msg_1" || string(got[0].Body) != string(notification("msg_1").Body) {
			t.Fatalf("accepted = %+v", got)
		}
		if n := ob.get("msg_1"); n.Attempts != 1 || n.LastStatusCode != http.StatusNoContent || n.LastError != "" {
			t.Fatalf("row = %+v", n)
		}
	})

	t.Run("retries with back-off until the receiver takes it", func(t *testing.T) {
		recv := fulfillmenttest.NewReceiver(t, secret)
		recv.FailNext(2)
		ob := newOutbox(notification("msg_2"))
		run(t, fulfillment.Config{URL: recv.URL}, ob)
		eventually.True(t, 15*time.Second, "delivered", func() bool { return ob.get("msg_2").Status == orders.NotificationDelivered })
		if n := ob.get("msg_2"); n.Attempts != 3 || recv.Attempts() != 3 || len(recv.Accepted()) != 1 {
			t.Fatalf("attempts = %d (receiver saw %d, accepted %d), want 3, 3, 1", n.Attempts, recv.Attempts(), len(recv.Accepted()))
		}
	})

	t.Run("gives up after MaxAttempts and keeps the error", func(t *testing.T) {
		recv := fulfillmenttest.NewReceiver(t, secret)
		recv.AlwaysAnswer(http.StatusInternalServerError)
		ob := newOutbox(notification("msg_3"))
		run(t, fulfillment.Config{URL: recv.URL, MaxAttempts: 3}, ob)
		eventually.True(t, 15*time.Second, "failed", func() bool { return ob.get("msg_3").Status == orders.NotificationFailed })
		n := ob.get("msg_3")
		if n.Attempts != 3 || n.LastStatusCode != 500 || !strings.Contains(n.LastError, "500") {
			t.Fatalf("row = %+v", n)
		}
		time.Sleep(100 * time.Millisecond)
		if recv.Attempts() != 3 {
			t.Fatalf("receiver saw %d attempts after giving up, want 3", recv.Attempts())
		}
	})

	t.Run("a receiver with another secret rejects it", func(t *testing.T) {
		other := "whsec_" + base64.StdEncoding.EncodeToString([]byte("another-32-byte-key-for-testing!"))
		recv := fulfillmenttest.NewReceiver(t, other)
		ob := newOutbox(notification("msg_4"))
		run(t, fulfillment.Config{URL: recv.URL, MaxAttempts: 1}, ob)
		eventually.True(t, 15*time.Second, "failed", func() bool { return ob.get("msg_4").Status == orders.NotificationFailed })
		if rej := recv.Rejected(); len(rej) != 1 || !errors.Is(rej[0], fulfillmenttest.ErrSignatureMismatch) {
			t.Fatalf("rejected = %v", rej)
		}
		if ob.get("msg_4").LastStatusCode != http.StatusUnauthorized {
			t.Fatalf("status = %d", ob.get("msg_4").LastStatusCode)
		}
	})

	t.Run("connection errors are retried without leaking the URL", func(t *testing.T) {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := lis.Addr().String()
		_ = lis.Close() // nothing listens there now
		ob := newOutbox(notification("msg_5"))
		run(t, fulfillment.Config{URL: "http://" + addr + "/hook?token=s3cr3t", MaxAttempts: 2}, ob)
		eventually.True(t, 15*time.Second, "failed", func() bool { return ob.get("msg_5").Status == orders.NotificationFailed })
		n := ob.get("msg_5")
		if n.Attempts != 2 || n.LastStatusCode != 0 || n.LastError == "" || strings.Contains(n.LastError, "s3cr3t") {
			t.Fatalf("row = %+v", n)
		}
	})

	// Issue 17: a 307 made the sender re-POST the signed body elsewhere and log
	// "delivered". A redirect is a failed attempt and is never followed.
	t.Run("a redirect is a failed attempt, not followed", func(t *testing.T) {
		elsewhere := fulfillmenttest.NewReceiver(t, secret)
		redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, elsewhere.URL, http.StatusTemporaryRedirect)
		}))
		t.Cleanup(redirect.Close)
		ob := newOutbox(notification("msg_7"))
		run(t, fulfillment.Config{URL: redirect.URL, MaxAttempts: 2}, ob)
		eventually.True(t, 15*time.Second, "failed", func() bool { return ob.get("msg_7").Status == orders.NotificationFailed })
		if n := ob.get("msg_7"); n.Attempts != 2 || n.LastStatusCode != http.StatusTemporaryRedirect {
			t.Fatalf("row = %+v, want 2 failed attempts answered 307", n)
		}
		if elsewhere.Attempts() != 0 {
			t.Fatalf("the redirect target got %d requests", elsewhere.Attempts())
		}
	})

	t.Run("a slow receiver times out", func(t *testing.T) {
		release := make(chan struct{})
		slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}))
		t.Cleanup(slow.Close)
		t.Cleanup(func() { close(release) })
		ob := newOutbox(notification("msg_6"))
		run(t, fulfillment.Config{URL: slow.URL, MaxAttempts: 1, Timeout: 50 * time.Millisecond}, ob)
		eventually.True(t, 15*time.Second, "failed", func() bool { return ob.get("msg_6").Status == orders.NotificationFailed })
		if n := ob.get("msg_6"); !strings.Contains(n.LastError, "deadline") {
			t.Fatalf("last error = %q, want a deadline error", n.LastError)
		}
	})
}

func TestShutdownMidAttempt(t *testing.T) {
	arrived := make(chan struct{}, 1)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // the server notices a gone client only after the body
		arrived <- struct{}{}
		<-r.Context().Done()
	}))
	t.Cleanup(slow.Close)
	ob := newOutbox(notification("msg_7"))
	s, err := fulfillment.New(fulfillment.Config{URL: slow.URL, Secret: secret, Poll: 20 * time.Millisecond}, ob)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("no attempt")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	n := ob.get("msg_7")
	// Due again at once rather than when the lease ends, so a restart sends it.
	if n.Status != orders.NotificationPending || n.LastError != "interrupted by shutdown" || n.NextAttemptAt.After(time.Now()) {
		t.Fatalf("row = %+v", n)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  fulfillment.Config
	}{
		{"no URL", fulfillment.Config{Secret: secret}},
		{"not http", fulfillment.Config{URL: "ftp://x/y", Secret: secret}},
		{"no host", fulfillment.Config{URL: "http:///path", Secret: secret}},
		{"no secret", fulfillment.Config{URL: "http://x"}},
		{"bad secret", fulfillment.Config{URL: "http://x", Secret: "whsec_???"}},
		{"negative attempts", fulfillment.Config{URL: "http://x", Secret: secret, MaxAttempts: -1}},
		{"bad backoff", fulfillment.Config{URL: "http://x", Secret: secret, Backoff: outbox.Backoff{Initial: time.Minute, Max: time.Second}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := fulfillment.New(tc.cfg, newOutbox()); err == nil {
				t.Fatal("New accepted the config")
			}
		})
	}
	if _, err := fulfillment.New(fulfillment.Config{URL: "http://x", Secret: secret}, nil); err == nil {
		t.Fatal("New accepted a nil outbox")
	}
}
