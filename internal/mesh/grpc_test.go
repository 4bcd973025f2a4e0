package mesh

import (
	"context"
	"slices"
	"testing"
	"time"

	adminv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/admin/v1"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
	"github.com/hookmesh/hookmesh/platform/grpcserver"
	"github.com/hookmesh/hookmesh/platform/grpcserver/grpcservertest"
)

func TestLoadConfigGRPCAddr(t *testing.T) {
	t.Setenv("HOOKMESH_GRPC_ADDR", "")
	cfg, err := LoadConfig()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.GRPCAddr != "127.0.0.1:8091" {
		t.Fatalf("default HOOKMESH_GRPC_ADDR = %q, want 127.0.0.1:8091", cfg.GRPCAddr)
	}
	t.Setenv("HOOKMESH_GRPC_ADDR", "127.0.0.1:9911")
	if cfg, err = LoadConfig(); err != nil || cfg.GRPCAddr != "127.0.0.1:9911" {
		t.Fatalf("HOOKMESH_GRPC_ADDR=127.0.0.1:9911: %q, %v", cfg.GRPCAddr, err)
	}
}

// TestMeshGRPCAPIReflection: the address the banner prints serves the gateway's
// gRPC API, and reflection lists its services (what grpcurl list shows).
func TestMeshGRPCAPIReflection(t *testing.T) {
	r := startMesh(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	names, err := grpcserver.ListServices(ctx, grpcservertest.MustDial(t, r.mesh.Gateway.GRPCAddr()))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{adminv1.AdminService_ServiceDesc.ServiceName, eventv1.PublisherService_ServiceDesc.ServiceName,
		"grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection"} {
		if !slices.Contains(names, want) {
			t.Errorf("reflection lists %q, without %s", names, want)
		}
	}
}
