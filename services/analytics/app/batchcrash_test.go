package app

import (
	"context"
	"log/slog"
	"net"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	analyticsv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/analytics/v1"
	consumerv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/consumer/v1"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
	"github.com/hookmesh/hookmesh/platform/grpcserver"
)

// killAfterBatchEnv makes the child SIGKILL itself once a DeliverBatch has been
// applied (committed) and before its answer is sent.
const killAfterBatchEnv = "ANALYTICS_TEST_KILL_AFTER_BATCH"

// serveKillingAfterBatch is the child's serve for the batch crash test: the
// service's own servers, with an interceptor that dies between commit and ack.
func serveKillingAfterBatch(ctx context.Context, cfg Config, logger *slog.Logger, lis net.Listener) error {
	svc, err := New(ctx, cfg, Deps{Logger: logger})
	if err != nil {
		return err
	}
	kill := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		resp, err := handler(ctx, req)
		if info.FullMethod == consumerv1.EventConsumerService_DeliverBatch_FullMethodName && err == nil {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // the answer is never sent
		}
		return resp, err
	}
	srv, err := grpcserver.New(grpcserver.Config{Logger: logger, Options: []grpc.ServerOption{grpc.ChainUnaryInterceptor(kill)}})
	if err != nil {
		return err
	}
	svc.Register(srv.GRPC())
	return srv.Serve(ctx, lis)
}

// TestBatchOnceAcrossKill: the process dies after a batch committed and before
// its statuses reached the dispatcher; the redelivered batch (as the dispatcher
// sends it after the attempt failed) has no second effect.
func TestBatchOnceAcrossKill(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test")
	}
	dataDir := t.TempDir()
	env := []string{"HOOKMESH_DATA_DIR=" + dataDir, "ANALYTICS_DATABASE_URL=", "DATABASE_URL="}
	at := time.Date(2026, 3, 3, 12, 0, 0, 0, time.UTC)
	const n = 50
	req := &consumerv1.DeliverBatchRequest{Subscription: "analytics"}
	for i := range n {
		req.Deliveries = append(req.Deliveries, &consumerv1.BatchDelivery{Attempt: 1,
			Event: &eventv1.Event{Id: "batch-" + strconv.Itoa(i), Source: "load", Type: "load.batch", Time: timestamppb.New(at)}})
	}

	first := startChild(t, append(env, killAfterBatchEnv+"=1"))
	consumer, _ := clients(t, first.addr)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	_, err := consumer.DeliverBatch(ctx, req)
	cancel()
	if err == nil {
		t.Fatal("DeliverBatch answered: the child should have died before its answer")
	}
	if werr := first.cmd.Wait(); werr == nil {
		t.Fatalf("child exited cleanly; want SIGKILL (%s)", first.stderr.String())
	}

	second := startChild(t, env)
	consumer2, analytics2 := clients(t, second.addr)
	for _, d := range req.Deliveries {
		d.Attempt = 2
	}
	ctx, cancel = context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	resp, err := consumer2.DeliverBatch(ctx, req)
	if err != nil {
		t.Fatalf("redelivered batch: %v", err)
	}
	for i, st := range resp.GetStatuses() {
		if codes.Code(st.GetCode()) != codes.AlreadyExists {
			t.Errorf("event %d after the kill: %v (%s), want ALREADY_EXISTS (committed before the kill)", i, codes.Code(st.GetCode()), st.GetMessage())
		}
	}
	counts, err := analytics2.GetCounts(ctx, &analyticsv1.GetCountsRequest{Type: "load.batch", Since: timestamppb.New(at), Until: timestamppb.New(at.Add(time.Hour))})
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, b := range counts.GetBuckets() {
		total += b.GetCount()
	}
	if total != n {
		t.Errorf("counted %d times, want exactly %d", total, n)
	}
}
