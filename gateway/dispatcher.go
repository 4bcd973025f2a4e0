package gateway

import (
	"context"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/hookmesh/hookmesh/gateway/internal/dispatch"
	"github.com/hookmesh/hookmesh/gateway/internal/eventlog"
	consumerv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/consumer/v1"
)

// newDispatcher builds the default dispatcher from the config's subscriptions.
// builtin:gateway resolves to the gateway's own gRPC server (its health consumer)
// through g.grpcConn, which carries the admin token the server requires.
func (g *Gateway) newDispatcher(ctx context.Context, deps Deps) (*dispatch.Dispatcher, error) {
	conns := map[string]*grpc.ClientConn{"gateway": g.grpcConn}
	for name, c := range deps.Builtins {
		conns[name] = c
	}
	access, err := g.file.Access(deps.Secrets)
	if err != nil {
		return nil, err
	}
	subs := dispatch.SubscriptionsFromConfig(g.file.Subscriptions)
	for i := range subs {
		subs[i].Token = access.SubscriptionTokens[subs[i].Name] // token_from_env
	}
	d, err := dispatch.New(ctx, dispatch.Config{
		JS:             g.log.JetStream(),
		Events:         g.log,
		Subscriptions:  subs,
		Conns:          conns,
		TracerProvider: g.tp,
		Logger:         g.logger.With("part", "dispatch"),
		Registerer:     registerer(deps.Registry),
		Replicas:       max(g.file.Log.Replicas, 1),
	})
	if err != nil {
		return nil, fmt.Errorf("dispatcher: %w", err)
	}
	return d, nil
}

// healthConsumer is the gateway's own subscriber (builtin:gateway): the hourly
// cron.health-check refreshes every subscription's health and checks the log.
type healthConsumer struct {
	consumerv1.UnimplementedEventConsumerServiceServer
	log  *eventlog.Log
	disp *dispatch.Dispatcher // nil without subscriptions
}

func (h *healthConsumer) Deliver(ctx context.Context, req *consumerv1.DeliverRequest) (*consumerv1.DeliverResponse, error) {
	ev := req.GetEvent()
	if ev.GetId() == "" || ev.GetSource() == "" {
		return nil, status.Error(codes.InvalidArgument, "event without source and id")
	}
	if err := h.log.Ready(ctx); err != nil {
		return nil, status.Errorf(codes.Unavailable, "event log not ready: %v", err)
	}
	if h.disp != nil {
		h.disp.CheckHealth(ctx)
	}
	return &consumerv1.DeliverResponse{}, nil
}
