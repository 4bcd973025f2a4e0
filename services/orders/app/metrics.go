package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookmesh/hookmesh/services/orders/internal/orders"
)

// countingStore counts the effects the domain commits: shipments created,
// orders left unfulfilled for short stock, invoices written.
type countingStore struct {
	orders.Store
	shipments, short, invoices prometheus.Counter
}

func newCountingStore(st orders.Store, reg prometheus.Registerer) (*countingStore, error) {
	c := &countingStore{
		Store: st,
		shipments: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hookmesh_orders_shipments_total",
			Help: "Shipments created (one per completed order).",
		}),
		short: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hookmesh_orders_stock_insufficient_total",
			Help: "Completed orders not fulfilled for insufficient stock.",
		}),
		invoices: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hookmesh_orders_invoices_total",
			Help: "Invoices written by billing runs.",
		}),
	}
	for _, m := range []prometheus.Collector{c.shipments, c.short, c.invoices} {
		if err := reg.Register(m); err != nil {
			return nil, fmt.Errorf("register orders metrics: %w", err)
		}
	}
	return c, nil
}

func (c *countingStore) ApplyOrder(ctx context.Context, ref orders.EventRef, ch orders.OrderChange, plan func(email string) (orders.Fulfilment, error)) (bool, error) {
	fulfilled, err := c.Store.ApplyOrder(ctx, ref, ch, plan)
	switch {
	case err == nil && fulfilled:
		c.shipments.Inc()
	case errors.Is(err, orders.ErrInsufficientStock):
		c.short.Inc()
	}
	return fulfilled, err
}

func (c *countingStore) Bill(ctx context.Context, ref orders.EventRef, m orders.Month, build func(unbilled []orders.Shipment, subs []orders.Subscription) []orders.Invoice) ([]orders.Invoice, error) {
	invs, err := c.Store.Bill(ctx, ref, m, build)
	if err == nil {
		c.invoices.Add(float64(len(invs)))
	}
	return invs, err
}
