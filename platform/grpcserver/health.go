package grpcserver

import (
	"context"
	"time"

	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// watchGrace is how long a health Watch stream stays open after shutdown
// begins when it has no NOT_SERVING left to send.
const watchGrace = time.Second

// healthService is grpc's health server whose Watch streams end once
// shutdown has begun and NOT_SERVING has been sent: otherwise every watching
// client would hold GracefulStop until ShutdownTimeout.
type healthService struct {
	*health.Server
	stopping chan struct{}
}

func newHealthService() *healthService {
	return &healthService{Server: health.NewServer(), stopping: make(chan struct{})}
}

// shutdown marks everything NOT_SERVING and ends Watch streams.
func (h *healthService) shutdown() {
	close(h.stopping)
	h.Shutdown()
}

func (h *healthService) Watch(req *healthpb.HealthCheckRequest, stream healthpb.Health_WatchServer) error {
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	go func() {
		select {
		case <-ctx.Done():
		case <-h.stopping:
			select {
			case <-ctx.Done():
			case <-time.After(watchGrace):
				cancel()
			}
		}
	}()
	return h.Server.Watch(req, &watchStream{Health_WatchServer: stream, ctx: ctx, cancel: cancel, stopping: h.stopping})
}

type watchStream struct {
	healthpb.Health_WatchServer
	ctx      context.Context
	cancel   context.CancelFunc
	stopping chan struct{}
}

func (w *watchStream) Context() context.Context { return w.ctx }

func (w *watchStream) Send(resp *healthpb.HealthCheckResponse) error {
	err := w.Health_WatchServer.Send(resp)
	select {
	case <-w.stopping:
		if resp.GetStatus() == healthpb.HealthCheckResponse_NOT_SERVING {
			w.cancel() // the client has its last word
		}
	default:
	}
	return err
}
