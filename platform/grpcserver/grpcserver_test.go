package grpcserver_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	consumerv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/consumer/v1"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/hookmesh/hookmesh/platform/grpcserver"
	"github.com/hookmesh/hookmesh/platform/grpcserver/grpcservertest"
)

// consumer is a test EventConsumerService whose behaviour each test picks.
type consumer struct {
	consumerv1.UnimplementedEventConsumerServiceServer
	deliver func(ctx context.Context, req *consumerv1.DeliverRequest) error
}

func (c *consumer) Deliver(ctx context.Context, req *consumerv1.DeliverRequest) (*consumerv1.DeliverResponse, error) {
	if err := c.deliver(ctx, req); err != nil {
		return nil, err
	}
	return &consumerv1.DeliverResponse{}, nil
}

var quiet = slog.New(slog.NewJSONHandler(io.Discard, nil))

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

type started struct {
	conn   *grpc.ClientConn
	cancel context.CancelFunc
	done   <-chan error // closed after Serve's result was sent once
}

// start runs a Server by hand (not MustStart) so tests control its context.
func start(t *testing.T, cfg grpcserver.Config, c *consumer) started {
	t.Helper()
	cfg.Logger = quiet
	srv, err := grpcserver.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	consumerv1.RegisterEventConsumerServiceServer(srv.GRPC(), c)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	result := make(chan error, 1)
	served := make(chan struct{})
	go func() {
		result <- srv.Serve(ctx, lis)
		close(served)
	}()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		cancel()
		select {
		case <-served:
		case <-time.After(30 * time.Second):
			t.Error("Serve did not return after cancel")
		}
	})
	return started{conn: conn, cancel: cancel, done: result}
}

func TestHealthServing(t *testing.T) {
	s := start(t, grpcserver.Config{}, &consumer{deliver: func(context.Context, *consumerv1.DeliverRequest) error { return nil }})
	hc := healthpb.NewHealthClient(s.conn)
	tests := []struct {
		service string
		want    healthpb.HealthCheckResponse_ServingStatus
		code    codes.Code
	}{
		{"", healthpb.HealthCheckResponse_SERVING, codes.OK},
		{consumerv1.EventConsumerService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING, codes.OK},
		{"no.such.Service", 0, codes.NotFound},
	}
	for _, tc := range tests {
		t.Run("service="+tc.service, func(t *testing.T) {
			resp, err := hc.Check(testCtx(t), &healthpb.HealthCheckRequest{Service: tc.service})
			if status.Code(err) != tc.code {
				t.Fatalf("Check code = %v (%v), want %v", status.Code(err), err, tc.code)
			}
			if err == nil && resp.GetStatus() != tc.want {
				t.Errorf("status = %v, want %v", resp.GetStatus(), tc.want)
			}
		})
	}
}

func TestGracefulStop(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	// A long ShutdownTimeout: only the watch stream ending by itself lets Serve return soon.
	s := start(t, grpcserver.Config{ShutdownTimeout: time.Minute}, &consumer{deliver: func(ctx context.Context, _ *consumerv1.DeliverRequest) error {
		close(entered)
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return status.Error(codes.Canceled, "cancelled")
		}
	}})
	ctx := testCtx(t)

	watch, err := healthpb.NewHealthClient(s.conn).Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := watch.Recv(); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("first health status = %v, %v; want SERVING", resp.GetStatus(), err)
	}

	inflight := make(chan error, 1)
	go func() {
		_, err := consumerv1.NewEventConsumerServiceClient(s.conn).Deliver(ctx, &consumerv1.DeliverRequest{Event: &eventv1.Event{Id: "1"}})
		inflight <- err
	}()
	<-entered
	s.cancel()

	// Shutdown begins with NOT_SERVING.
	if resp, err := watch.Recv(); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("health status after cancel = %v, %v; want NOT_SERVING", resp.GetStatus(), err)
	}
	// ...and then the server ends the watch, so watchers do not hold GracefulStop.
	watchEnded := make(chan error, 1)
	go func() {
		_, err := watch.Recv()
		watchEnded <- err
	}()
	select {
	case err := <-watchEnded:
		if err == nil {
			t.Error("watch sent another status after NOT_SERVING")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("health watch still open 20s into shutdown")
	}
	select {
	case err := <-s.done:
		t.Fatalf("Serve returned (%v) while a call was in flight", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if err := <-inflight; err != nil {
		t.Errorf("in-flight call = %v, want OK (graceful stop lets it finish)", err)
	}
	if err := <-s.done; err != nil {
		t.Errorf("Serve = %v, want nil after ctx ended", err)
	}
}

func TestShutdownTimeoutCancelsStragglers(t *testing.T) {
	entered := make(chan struct{})
	s := start(t, grpcserver.Config{ShutdownTimeout: 100 * time.Millisecond}, &consumer{deliver: func(ctx context.Context, _ *consumerv1.DeliverRequest) error {
		close(entered)
		<-ctx.Done() // only Stop's cancellation ends this call
		return status.FromContextError(ctx.Err()).Err()
	}})
	ctx := testCtx(t)
	inflight := make(chan error, 1)
	go func() {
		_, err := consumerv1.NewEventConsumerServiceClient(s.conn).Deliver(ctx, &consumerv1.DeliverRequest{})
		inflight <- err
	}()
	<-entered
	s.cancel()
	if err := <-s.done; err != nil {
		t.Errorf("Serve = %v, want nil", err)
	}
	if code := status.Code(<-inflight); code == codes.OK {
		t.Error("straggling call succeeded; Stop should have cancelled it")
	}
}

func TestPanicBecomesInternal(t *testing.T) {
	conn := grpcservertest.MustStartWith(t, grpcserver.Config{Logger: quiet}, func(s *grpc.Server) {
		consumerv1.RegisterEventConsumerServiceServer(s, &consumer{deliver: func(_ context.Context, req *consumerv1.DeliverRequest) error {
			if req.GetEvent().GetId() == "panic" {
				panic("boom")
			}
			return nil
		}})
	})
	client := consumerv1.NewEventConsumerServiceClient(conn)
	tests := []struct {
		id   string
		want codes.Code
	}{
		{"panic", codes.Internal},
		{"fine", codes.OK}, // the server survived
	}
	for _, tc := range tests {
		t.Run(tc.id, func(t *testing.T) {
			_, err := client.Deliver(testCtx(t), &consumerv1.DeliverRequest{Event: &eventv1.Event{Id: tc.id}})
			if status.Code(err) != tc.want {
				t.Errorf("Deliver code = %v (%v), want %v", status.Code(err), err, tc.want)
			}
		})
	}
}

func TestTracingSkipsHealth(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.WithoutCancel(t.Context())) }) // t.Context is cancelled by now
	conn := grpcservertest.MustStartWith(t, grpcserver.Config{
		TracerProvider: tp,
		Propagators:    propagation.TraceContext{},
		Logger:         quiet,
	}, func(s *grpc.Server) {
		consumerv1.RegisterEventConsumerServiceServer(s, &consumer{deliver: func(context.Context, *consumerv1.DeliverRequest) error { return nil }})
	})
	ctx := testCtx(t)
	if _, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatal(err)
	}
	parentCtx, parent := tp.Tracer("test").Start(ctx, "parent")
	if _, err := consumerv1.NewEventConsumerServiceClient(conn).Deliver(parentCtx, &consumerv1.DeliverRequest{}); err != nil {
		t.Fatal(err)
	}
	parent.End()

	// The server span ends after the response is written: poll.
	const method = "hookmesh.consumer.v1.EventConsumerService/Deliver"
	deadline := time.Now().Add(10 * time.Second)
	var server *tracetest.SpanStub
	for server == nil && time.Now().Before(deadline) {
		for _, sp := range exp.GetSpans() {
			if strings.Contains(sp.Name, "grpc.health") {
				t.Fatalf("health check traced: span %q", sp.Name)
			}
			if sp.Name == method && sp.SpanKind.String() == "server" {
				server = &sp
			}
		}
		if server == nil {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if server == nil {
		t.Fatalf("no server span %q among %d spans", method, len(exp.GetSpans()))
	}
	if server.SpanContext.TraceID() != parent.SpanContext().TraceID() {
		t.Errorf("server span trace %s, want the caller's %s", server.SpanContext.TraceID(), parent.SpanContext().TraceID())
	}
}

func TestServeErrors(t *testing.T) {
	t.Run("negative timeout", func(t *testing.T) {
		if _, err := grpcserver.New(grpcserver.Config{ShutdownTimeout: -1}); err == nil {
			t.Error("New accepted a negative ShutdownTimeout")
		}
	})
	t.Run("closed listener", func(t *testing.T) {
		srv, err := grpcserver.New(grpcserver.Config{Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		_ = lis.Close()
		if err := srv.Serve(testCtx(t), lis); err == nil {
			t.Error("Serve on a closed listener returned nil")
		}
	})
	t.Run("serve twice", func(t *testing.T) {
		srv, err := grpcserver.New(grpcserver.Config{Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(testCtx(t))
		cancel()
		if err := srv.Serve(ctx, lis); err != nil {
			t.Fatalf("first Serve = %v, want nil", err)
		}
		if err := srv.Serve(ctx, lis); err == nil || !strings.Contains(err.Error(), "twice") {
			t.Errorf("second Serve = %v, want an error", err)
		}
	})
}
