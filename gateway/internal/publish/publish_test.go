package publish

import (
	"context"
	"net"
	"testing"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/hookmesh/hookmesh/gateway/internal/eventlog"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
)

// start serves a PublisherService over the real event log on loopback gRPC, with
// otelgrpc on both ends as in the gateway.
func start(t *testing.T) (eventv1.PublisherServiceClient, *eventlog.Log, *sdktrace.TracerProvider) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	l, err := eventlog.Open(ctx, eventlog.Config{DataDir: t.TempDir()}, nil)
	if err != nil {
		t.Fatalf("open log: %v", err)
	}
	t.Cleanup(func() { _ = l.Close() })
	if err := l.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{Log: l, RetryAfter: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider()
	prop := propagation.TraceContext{}
	gs := grpc.NewServer(grpc.StatsHandler(otelgrpc.NewServerHandler(otelgrpc.WithTracerProvider(tp), otelgrpc.WithPropagators(prop))))
	eventv1.RegisterPublisherServiceServer(gs, srv)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	cc, err := grpc.NewClient("passthrough:///"+lis.Addr().String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithStatsHandler(otelgrpc.NewClientHandler(otelgrpc.WithTracerProvider(tp), otelgrpc.WithPropagators(prop))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	return eventv1.NewPublisherServiceClient(cc), l, tp
}

func fact(id string) *eventv1.Event {
	return &eventv1.Event{Id: id, Source: "orders", Type: "orders.shipment.created", Subject: "shipment/" + id}
}

func TestPublish(t *testing.T) {
	client, l, tp := start(t)
	ctx, span := tp.Tracer("test").Start(t.Context(), "orders handler")
	defer span.End()

	resp, err := client.Publish(ctx, &eventv1.PublishRequest{Event: fact("s-1")})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetEventId() != "s-1" || resp.GetDuplicate() {
		t.Fatalf("resp = %v", resp)
	}
	stored, _, err := l.Get(ctx, "orders", "s-1")
	if err != nil {
		t.Fatal(err)
	}
	if stored.GetReceivedTime() == nil || stored.GetType() != "orders.shipment.created" {
		t.Fatalf("stored = %v", stored)
	}
	// The follow-up event continues the caller's trace.
	if want := span.SpanContext().TraceID().String(); len(stored.GetTraceparent()) < 35 || stored.GetTraceparent()[3:35] != want {
		t.Fatalf("traceparent = %q, want trace %s", stored.GetTraceparent(), want)
	}
	again, err := client.Publish(ctx, &eventv1.PublishRequest{Event: fact("s-1")})
	if err != nil || !again.GetDuplicate() {
		t.Fatalf("duplicate = %v, %v", again, err)
	}
}

func TestPublishInvalid(t *testing.T) {
	client, l, _ := start(t)
	tests := []struct {
		name string
		ev   *eventv1.Event
	}{
		{"no event", nil},
		{"no source", &eventv1.Event{Id: "1", Type: "x"}},
		{"no id", &eventv1.Event{Source: "orders", Type: "x"}},
		{"no type", &eventv1.Event{Source: "orders", Id: "1"}},
		{"source not a token (log rejects)", &eventv1.Event{Source: "a.b", Id: "1", Type: "x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := client.Publish(t.Context(), &eventv1.PublishRequest{Event: tt.ev})
			if status.Code(err) != codes.InvalidArgument {
				t.Fatalf("err = %v, want INVALID_ARGUMENT", err)
			}
		})
	}
	if _, _, err := l.Get(t.Context(), "orders", "1"); err == nil {
		t.Fatal("an invalid event was written")
	}
}

func TestPublishLogUnavailable(t *testing.T) {
	client, l, _ := start(t)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := client.Publish(t.Context(), &eventv1.PublishRequest{Event: fact("s-2")})
	st := status.Convert(err)
	if st.Code() != codes.Unavailable {
		t.Fatalf("err = %v, want UNAVAILABLE", err)
	}
	var delay time.Duration
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			delay = ri.GetRetryDelay().AsDuration()
		}
	}
	if delay != 3*time.Second {
		t.Fatalf("RetryInfo delay = %s, want 3s", delay)
	}
}

func TestNewValidates(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Fatal("no log accepted")
	}
	if _, err := New(Config{Log: &eventlog.Log{}, RetryAfter: -1}); err == nil {
		t.Fatal("negative RetryAfter accepted")
	}
}
