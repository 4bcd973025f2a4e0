package pendingwork_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hookmesh/hookmesh/platform/pendingwork"
)

func TestRegister(t *testing.T) {
	reg := prometheus.NewRegistry()
	oldest := time.Now().Add(-90 * time.Second)
	err := pendingwork.Register(reg, "orders",
		pendingwork.Queue{Name: "publish", Pending: func(context.Context) (int64, time.Time, error) { return 3, oldest, nil }},
		pendingwork.Queue{Name: "empty", Pending: func(context.Context) (int64, time.Time, error) { return 0, time.Time{}, nil }})
	if err != nil {
		t.Fatal(err)
	}
	want := `
# HELP hookmesh_pending_work_items Work items a service still owes after acknowledging their delivery (not in hookmesh_dispatch_backlog).
# TYPE hookmesh_pending_work_items gauge
hookmesh_pending_work_items{queue="empty",service="orders"} 0
hookmesh_pending_work_items{queue="publish",service="orders"} 3
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "hookmesh_pending_work_items"); err != nil {
		t.Error(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "hookmesh_pending_work_oldest_age_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			age := m.GetGauge().GetValue()
			switch m.GetLabel()[0].GetValue() {
			case "publish":
				if age < 89 || age > 120 {
					t.Errorf("publish oldest age %v, want ≈90s", age)
				}
			case "empty":
				if age != 0 {
					t.Errorf("empty queue's oldest age %v, want 0", age)
				}
			}
		}
	}
}

func TestRegisterErrors(t *testing.T) {
	if err := pendingwork.Register(prometheus.NewRegistry(), "x", pendingwork.Queue{Name: "q"}); err == nil {
		t.Error("a queue without Pending was accepted")
	}
	if err := pendingwork.Register(nil, "x"); err != nil {
		t.Errorf("nil registerer: %v", err)
	}
	reg := prometheus.NewRegistry()
	_ = pendingwork.Register(reg, "x", pendingwork.Queue{Name: "q", Pending: func(context.Context) (int64, time.Time, error) {
		return 0, time.Time{}, errors.New("store down")
	}})
	if _, err := reg.Gather(); err == nil {
		t.Error("a failing query was not reported by the scrape")
	}
}
