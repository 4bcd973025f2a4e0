package app_test

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hookmesh/hookmesh/services/orders/app"
	ev "github.com/hookmesh/hookmesh/services/orders/internal/testevents"
)

// The service's counters follow its committed effects: one shipment per
// completed order however often it is delivered, short stock, invoices.
func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := prepare(t, func(*app.Config) {})
	h.reg = reg
	h.start(t)
	done := ev.Completion("h-m1", "o-901", "mia", t0, ev.Item{SKU: "MUG-LOGO", Quantity: 1, Price: 12.5})
	h.mustDeliver(t, done)
	if err := h.deliver(t, done); status.Code(err) != codes.AlreadyExists {
		t.Fatalf("second delivery: %v, want ALREADY_EXISTS", err)
	}
	short := ev.Completion("h-m2", "o-902", "mia", t0, ev.Item{SKU: "MUG-LOGO", Quantity: 500, Price: 12.5})
	if err := h.deliver(t, short); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("short delivery: %v, want FAILED_PRECONDITION", err)
	}
	h.mustDeliver(t, ev.BillingTick("hookmesh", "tick-m", time.Now().UTC().AddDate(0, 1, 0)))
	want := `
# HELP hookmesh_orders_invoices_total Invoices written by billing runs.
# TYPE hookmesh_orders_invoices_total counter
hookmesh_orders_invoices_total 1
# HELP hookmesh_orders_shipments_total Shipments created (one per completed order).
# TYPE hookmesh_orders_shipments_total counter
hookmesh_orders_shipments_total 1
# HELP hookmesh_orders_stock_insufficient_total Completed orders not fulfilled for insufficient stock.
# TYPE hookmesh_orders_stock_insufficient_total counter
hookmesh_orders_stock_insufficient_total 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"hookmesh_orders_shipments_total", "hookmesh_orders_stock_insufficient_total", "hookmesh_orders_invoices_total"); err != nil {
		t.Error(err)
	}
	// A second service on the same registry is a wiring error, reported.
	h2 := prepare(t, func(*app.Config) {})
	if _, err := app.New(t.Context(), h2.cfg, app.Deps{Publisher: h2.pub, Registerer: reg}); err == nil || !strings.Contains(err.Error(), "register orders metrics") {
		t.Errorf("duplicate registration: %v", err)
	}
}
