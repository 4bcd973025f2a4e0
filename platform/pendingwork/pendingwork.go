// Package pendingwork exports the work a service still owes after it acknowledged
// a delivery (follow-up events in a publish outbox, mails in a send queue): work
// that hookmesh_dispatch_backlog cannot see, so that "backlog 0" and "pending
// work 0" together mean everything is done.
//
//	hookmesh_pending_work_items{service,queue}               items not done yet
//	hookmesh_pending_work_oldest_age_seconds{service,queue}  age of the oldest (0 when none)
//
// Both are read from the service's store at scrape time.
package pendingwork

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Queue is one kind of owed work.
type Queue struct {
	// Name is the queue label, e.g. "publish" or "send".
	Name string
	// Pending counts the items not done yet and returns when the oldest was
	// created (zero when there is none).
	Pending func(ctx context.Context) (items int64, oldest time.Time, err error)
}

// Timeout bounds one scrape's queries.
const Timeout = 2 * time.Second

var (
	itemsDesc = prometheus.NewDesc("hookmesh_pending_work_items",
		"Work items a service still owes after acknowledging their delivery (not in hookmesh_dispatch_backlog).",
		[]string{"service", "queue"}, nil)
	ageDesc = prometheus.NewDesc("hookmesh_pending_work_oldest_age_seconds",
		"Age of the oldest pending work item (0 when there is none).",
		[]string{"service", "queue"}, nil)
)

type collector struct {
	service string
	queues  []Queue
	now     func() time.Time
}

// Register adds the service's queues to reg.
func Register(reg prometheus.Registerer, service string, queues ...Queue) error {
	if reg == nil {
		return nil
	}
	for _, q := range queues {
		if q.Name == "" || q.Pending == nil {
			return errors.New("pendingwork: every queue needs a name and a Pending func")
		}
	}
	return reg.Register(&collector{service: service, queues: queues, now: time.Now})
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- itemsDesc
	ch <- ageDesc
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	for _, q := range c.queues {
		n, oldest, err := q.Pending(ctx)
		if err != nil {
			ch <- prometheus.NewInvalidMetric(itemsDesc, err)
			continue
		}
		age := 0.0
		if n > 0 && !oldest.IsZero() {
			age = max(0, c.now().Sub(oldest).Seconds())
		}
		ch <- prometheus.MustNewConstMetric(itemsDesc, prometheus.GaugeValue, float64(n), c.service, q.Name)
		ch <- prometheus.MustNewConstMetric(ageDesc, prometheus.GaugeValue, age, c.service, q.Name)
	}
}
