package app

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	analyticsv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/analytics/v1"
	consumerv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/consumer/v1"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
	"github.com/hookmesh/hookmesh/platform/envconfig"
	"github.com/hookmesh/hookmesh/platform/telemetry"
)

// The child process: this test binary, re-executed with childEnv set to the file
// it writes its gRPC address to. Its service config comes from the environment.
const childEnv = "ANALYTICS_TEST_CHILD_ADDR_FILE"

func runChild() int {
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var cfg Config
	if err := envconfig.Load(&cfg); err != nil {
		logger.Error("child config", "error", err.Error())
		return 2
	}
	cfg.setDefaults()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		logger.Error("child listen", "error", err.Error())
		return 2
	}
	// Written whole, then renamed, so the parent never reads half an address.
	file := os.Getenv(childEnv)
	if err := os.WriteFile(file+".tmp", []byte(lis.Addr().String()), 0o600); err != nil {
		logger.Error("child address", "error", err.Error())
		return 2
	}
	if err := os.Rename(file+".tmp", file); err != nil {
		logger.Error("child address", "error", err.Error())
		return 2
	}
	// SIGTERM shuts down gracefully (the graceful variant of the crash test).
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	tel, err := telemetry.Setup(ctx, telemetry.Config{Component: "analytics", SkipRuntimeMetrics: true, Logger: logger})
	if err != nil {
		logger.Error("child telemetry", "error", err.Error())
		return 2
	}
	if os.Getenv(killAfterBatchEnv) != "" {
		err = serveKillingAfterBatch(ctx, cfg, logger, lis)
	} else {
		err = serve(ctx, cfg, tel, logger, lis, nil)
	}
	if err != nil {
		logger.Error("child serve", "error", err.Error())
		return 1
	}
	return 0
}

type child struct {
	cmd    *exec.Cmd
	addr   string
	stderr *bytes.Buffer
}

// startChild runs the service in a new process on env and waits until it serves.
func startChild(t *testing.T, env []string) *child {
	t.Helper()
	addrFile := filepath.Join(t.TempDir(), "addr")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), env...), childEnv+"="+addrFile)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child: %v", err)
	}
	c := &child{cmd: cmd, stderr: &stderr}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := os.ReadFile(addrFile)
		if err == nil {
			c.addr = string(b)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("child did not start: %s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	waitHealthy(t, c.addr)
	return c
}

func waitHealthy(t *testing.T, addr string) {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
		cancel()
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not SERVING: %v %v", addr, resp, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func clients(t *testing.T, addr string) (consumerv1.EventConsumerServiceClient, analyticsv1.AnalyticsServiceClient) {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return consumerv1.NewEventConsumerServiceClient(conn), analyticsv1.NewAnalyticsServiceClient(conn)
}

// TestNoLossAcrossKill delivers many events concurrently to a service process,
// SIGKILLs (or SIGTERMs) it mid-load, restarts it on the same database and checks that every
// acknowledged event survived and that, once the unacknowledged ones are
// redelivered (as the dispatcher would), every event is counted exactly once.
func TestNoLossAcrossKill(t *testing.T) {
	const (
		events  = 3000
		workers = 48
	)
	sqlite := func(t *testing.T) []string {
		return []string{"HOOKMESH_DATA_DIR=" + t.TempDir(), "ANALYTICS_DATABASE_URL=", "DATABASE_URL="}
	}
	variants := []struct {
		name   string
		signal syscall.Signal
		env    func(t *testing.T) []string
	}{
		{"sqlite/SIGKILL", syscall.SIGKILL, sqlite},
		{"postgres/SIGKILL", syscall.SIGKILL, func(t *testing.T) []string {
			cfg := postgresConfig(t)
			return []string{"HOOKMESH_DATA_DIR=" + cfg.DataDir, "ANALYTICS_DATABASE_URL=" + cfg.DatabaseURL, "ANALYTICS_DATABASE_SCHEMA=" + cfg.DatabaseSchema}
		}},
		// A graceful stop answers the deliveries in flight and flushes: same checks,
		// and a clean exit.
		{"sqlite/SIGTERM", syscall.SIGTERM, sqlite},
	}
	at := time.Date(2026, 2, 2, 12, 0, 0, 0, time.UTC)
	ev := func(i int) *eventv1.Event {
		return &eventv1.Event{Id: "load-" + strconv.Itoa(i), Source: "load", Type: "load.t" + strconv.Itoa(i%5), Time: timestamppb.New(at)}
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			env := append(v.env(t), "ANALYTICS_BATCH_SIZE=64")
			first := startChild(t, env)
			consumer, _ := clients(t, first.addr)

			acked := make([]atomic.Bool, events)
			var nAcked atomic.Int64
			next := atomic.Int64{}
			var wg sync.WaitGroup
			for range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := int(next.Add(1) - 1)
						if i >= events {
							return
						}
						ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
						_, err := consumer.Deliver(ctx, &consumerv1.DeliverRequest{Event: ev(i), Subscription: "analytics", Attempt: 1})
						cancel()
						if err == nil {
							acked[i].Store(true)
							nAcked.Add(1)
							continue
						}
						if status.Code(err) == codes.InvalidArgument {
							t.Errorf("event %d: %v", i, err)
						}
						return // the process is gone
					}
				}()
			}
			// Kill mid-load: after a third was acknowledged, while commits are in flight.
			deadline := time.Now().Add(30 * time.Second)
			for nAcked.Load() < events/3 {
				if time.Now().After(deadline) {
					t.Fatalf("only %d acknowledged: %s", nAcked.Load(), first.stderr.String())
				}
				time.Sleep(time.Millisecond)
			}
			if err := first.cmd.Process.Signal(v.signal); err != nil {
				t.Fatal(err)
			}
			if err := first.cmd.Wait(); v.signal == syscall.SIGTERM && err != nil {
				t.Errorf("graceful stop: %v: %s", err, first.stderr.String())
			}
			wg.Wait()
			killedAt := nAcked.Load()
			if killedAt >= events {
				t.Fatalf("all %d events acknowledged before the kill; the test proves nothing", events)
			}

			second := startChild(t, env)
			consumer2, analytics2 := clients(t, second.addr)
			// Redeliver everything: an acknowledged event must be known (ALREADY_EXISTS),
			// the others are applied now (or were committed before their answer was lost).
			redeliver := func(i int) error {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				_, err := consumer2.Deliver(ctx, &consumerv1.DeliverRequest{Event: ev(i), Subscription: "analytics", Attempt: 2})
				code := status.Code(err)
				switch {
				case acked[i].Load() && code != codes.AlreadyExists:
					return fmt.Errorf("acknowledged event %d lost: redelivery answered %v", i, err)
				case code != codes.OK && code != codes.AlreadyExists:
					return fmt.Errorf("event %d: %v", i, err)
				}
				return nil
			}
			next.Store(0)
			errs := make(chan error, events)
			for range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := int(next.Add(1) - 1); i < events; i = int(next.Add(1) - 1) {
						if err := redeliver(i); err != nil {
							errs <- err
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			resp, err := analytics2.GetCounts(context.Background(), &analyticsv1.GetCountsRequest{
				Type: "load.*", Since: timestamppb.New(at), Until: timestamppb.New(at.Add(time.Hour)),
			})
			if err != nil {
				t.Fatal(err)
			}
			var total int64
			for _, b := range resp.GetBuckets() {
				if b.GetCount() != events/5 {
					t.Errorf("%s counted %d times, want %d", b.GetType(), b.GetCount(), events/5)
				}
				total += b.GetCount()
			}
			if total != events {
				t.Errorf("total %d, want exactly %d (acknowledged before the kill: %d)", total, events, killedAt)
			}
			t.Logf("killed after %d of %d deliveries were acknowledged", killedAt, events)
		})
	}
}
