package app_test

import (
	"bytes"
	"context"
	"github.com/hookmesh/hookmesh/platform/eventually"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	consumerv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/consumer/v1"
	ordersv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/orders/v1"
	"github.com/hookmesh/hookmesh/platform/envconfig"
	"github.com/hookmesh/hookmesh/platform/grpcserver"
	"github.com/hookmesh/hookmesh/services/orders/app"
	"github.com/hookmesh/hookmesh/services/orders/internal/publish/publishtest"
	ev "github.com/hookmesh/hookmesh/services/orders/internal/testevents"
)

// childEnv names the file the re-executed test binary writes its gRPC address to;
// with killEnv set it SIGKILLs itself once a DeliverBatch committed, before the
// answer is sent.
const (
	childEnv = "ORDERS_TEST_CHILD_ADDR_FILE"
	killEnv  = "ORDERS_TEST_KILL_AFTER_BATCH"
)

func TestMain(m *testing.M) {
	if file := os.Getenv(childEnv); file != "" {
		os.Exit(runChild(file))
	}
	os.Exit(m.Run())
}

func runChild(file string) int {
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	fail := func(what string, err error) int {
		logger.Error(what, "error", err.Error())
		return 2
	}
	var cfg app.Config
	if err := envconfig.Load(&cfg); err != nil {
		return fail("child config", err)
	}
	ctx := context.Background()
	svc, err := app.New(ctx, cfg, app.Deps{Logger: logger})
	if err != nil {
		return fail("child service", err)
	}
	kill := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		resp, err := handler(ctx, req)
		if os.Getenv(killEnv) != "" && info.FullMethod == consumerv1.EventConsumerService_DeliverBatch_FullMethodName && err == nil {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // the answer is never sent
		}
		return resp, err
	}
	srv, err := grpcserver.New(grpcserver.Config{Logger: logger, Options: []grpc.ServerOption{grpc.ChainUnaryInterceptor(kill)}})
	if err != nil {
		return fail("child grpc", err)
	}
	svc.Register(srv.GRPC())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail("child listen", err)
	}
	// Written whole, then renamed, so the parent never reads half an address.
	if err := os.WriteFile(file+".tmp", []byte(lis.Addr().String()), 0o600); err != nil {
		return fail("child address", err)
	}
	if err := os.Rename(file+".tmp", file); err != nil {
		return fail("child address", err)
	}
	if err := srv.Serve(ctx, lis); err != nil {
		return fail("child serve", err)
	}
	return 0
}

// startChild runs the orders service in a new process and returns its connection.
func startChild(t *testing.T, env ...string) (*exec.Cmd, *grpc.ClientConn, *bytes.Buffer) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "addr")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), env...), childEnv+"="+file)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	var addr []byte
	eventually.True(t, 20*time.Second, "child listening", func() bool {
		var err error
		addr, err = os.ReadFile(file)
		return err == nil
	})
	conn, err := grpc.NewClient(string(addr), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return cmd, conn, &stderr
}

// TestBatchOnceAcrossKill: the process dies after a batch of order completions
// committed and before its statuses were sent; the redelivered batch has no
// second effect: one shipment per order, stock taken once.
func TestBatchOnceAcrossKill(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test")
	}
	_, rec := publishtest.Start(t)
	env := []string{"HOOKMESH_DATA_DIR=" + t.TempDir(), "ORDERS_DATABASE_URL=", "DATABASE_URL=",
		"PUBLISHER_ADDR=" + rec.Addr, "ORDERS_SEED_CATALOGUE=true", "FULFILLMENT_WEBHOOK_URL=", "SERVICE_TOKEN="}
	const n = 20
	req := &consumerv1.DeliverBatchRequest{Subscription: "orders"}
	for i := range n {
		id := strconv.Itoa(i)
		req.Deliveries = append(req.Deliveries, &consumerv1.BatchDelivery{Attempt: 1,
			Event: ev.Completion("kill-"+id, "o-kill-"+id, "c-"+id, t0, ev.Item{SKU: "MUG-LOGO", Quantity: 1, Price: 12.5})})
	}

	first, conn, stderr := startChild(t, append(env, killEnv+"=1")...)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if _, err := consumerv1.NewEventConsumerServiceClient(conn).DeliverBatch(ctx, req); err == nil {
		t.Fatal("DeliverBatch answered: the child should have died before its answer")
	}
	if err := first.Wait(); err == nil {
		t.Fatalf("child exited cleanly; want SIGKILL (%s)", stderr.String())
	}

	_, conn2, _ := startChild(t, env...)
	for _, d := range req.Deliveries {
		d.Attempt = 2
	}
	resp, err := consumerv1.NewEventConsumerServiceClient(conn2).DeliverBatch(ctx, req)
	if err != nil {
		t.Fatalf("redelivered batch: %v", err)
	}
	for i, st := range resp.GetStatuses() {
		if codes.Code(st.GetCode()) != codes.AlreadyExists {
			t.Errorf("event %d after the kill: %v (%s), want ALREADY_EXISTS (committed before the kill)", i, codes.Code(st.GetCode()), st.GetMessage())
		}
	}
	read := ordersv1.NewOrdersServiceClient(conn2)
	ships, err := read.ListShipments(ctx, &ordersv1.ListShipmentsRequest{PageSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(ships.GetShipments()); got != n {
		t.Errorf("%d shipments, want exactly %d (one per order)", got, n)
	}
	stock, err := read.ListStock(ctx, &ordersv1.ListStockRequest{PageSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, s := range stock.GetLevels() {
		found = found || s.GetSku() == "MUG-LOGO"
		if s.GetSku() == "MUG-LOGO" && s.GetQuantity() != 50-n {
			t.Errorf("MUG-LOGO stock %d, want %d (taken once per order)", s.GetQuantity(), 50-n)
		}
	}
	if !found {
		t.Error("no MUG-LOGO stock level")
	}
}
