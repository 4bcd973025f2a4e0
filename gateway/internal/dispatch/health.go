package dispatch

import (
	"context"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	adminv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/admin/v1"
)

// healthState is what this process knows about a subscription's target: the
// last health check and the last delivery outcome.
type healthState struct {
	mu          sync.Mutex
	checked     time.Time
	serving     bool
	checkFailed bool
	lastOutcome Outcome
	lastCode    codes.Code
}

// observe keeps the last delivery outcome and its code.
func (h *healthState) observe(o Outcome, c codes.Code) {
	h.mu.Lock()
	h.lastOutcome, h.lastCode = o, c
	h.mu.Unlock()
}

func (h *healthState) setCheck(serving bool, at time.Time) {
	h.mu.Lock()
	h.checked, h.serving, h.checkFailed = at, serving, !serving
	h.mu.Unlock()
}

// value: UNHEALTHY when the check failed or deliveries find the target
// unavailable; DEGRADED when it answers but deliveries are retrying.
func (h *healthState) value() (adminv1.SubscriptionHealth, time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.checked.IsZero() && h.lastOutcome == 0:
		return adminv1.SubscriptionHealth_SUBSCRIPTION_HEALTH_UNSPECIFIED, h.checked
	case h.checkFailed || (h.lastOutcome == Retry && (h.lastCode == codes.Unavailable || h.lastCode == codes.DeadlineExceeded)):
		return adminv1.SubscriptionHealth_SUBSCRIPTION_HEALTH_UNHEALTHY, h.checked
	case h.lastOutcome == Retry || h.lastOutcome == Dead:
		return adminv1.SubscriptionHealth_SUBSCRIPTION_HEALTH_DEGRADED, h.checked
	}
	return adminv1.SubscriptionHealth_SUBSCRIPTION_HEALTH_HEALTHY, h.checked
}

// CheckHealth asks every target's grpc.health.v1 service (whole server, "") once.
func (d *Dispatcher) CheckHealth(ctx context.Context) {
	for _, w := range d.workers {
		cctx, cancel := context.WithTimeout(ctx, min(w.sub.Timeout, 5*time.Second))
		resp, err := healthpb.NewHealthClient(w.conn).Check(cctx, &healthpb.HealthCheckRequest{})
		cancel()
		// A target without the health service is judged by its deliveries alone.
		serving := err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING || status.Code(err) == codes.Unimplemented
		w.health.setCheck(serving, d.now())
	}
}

func (d *Dispatcher) healthLoop(ctx context.Context) {
	d.CheckHealth(ctx)
	t := time.NewTicker(d.cfg.HealthInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			d.CheckHealth(ctx)
		}
	}
}
