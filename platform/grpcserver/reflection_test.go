package grpcserver_test

import (
	"context"
	"slices"
	"testing"

	consumerv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/consumer/v1"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	"github.com/hookmesh/hookmesh/platform/grpcauth"
	"github.com/hookmesh/hookmesh/platform/grpcserver"
)

func noop(context.Context, *consumerv1.DeliverRequest) error { return nil }

// TestReflectionListsServices: a real grpc.reflection.v1 client lists every
// registered service and resolves a service's file, as grpcurl does.
func TestReflectionListsServices(t *testing.T) {
	s := start(t, grpcserver.Config{}, &consumer{deliver: noop})
	got, err := grpcserver.ListServices(testCtx(t), s.conn)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{consumerv1.EventConsumerService_ServiceDesc.ServiceName, "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection"} {
		if !slices.Contains(got, want) {
			t.Errorf("services %q lack %s", got, want)
		}
	}
	stream, err := reflectionpb.NewServerReflectionClient(s.conn).ServerReflectionInfo(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_FileContainingSymbol{
		FileContainingSymbol: consumerv1.EventConsumerService_ServiceDesc.ServiceName,
	}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if n := len(resp.GetFileDescriptorResponse().GetFileDescriptorProto()); n == 0 {
		t.Fatalf("no file descriptors for the consumer service: %v", resp)
	}
}

// TestReflectionBehindToken: with a bearer token required (open: health only),
// reflection needs it like any other service.
func TestReflectionBehindToken(t *testing.T) {
	s := start(t, grpcserver.Config{Options: grpcauth.Require("s3cret", healthpb.Health_ServiceDesc.ServiceName)}, &consumer{deliver: noop})
	tests := []struct {
		name, auth string
		want       codes.Code
	}{
		{"no token", "", codes.Unauthenticated},
		{"wrong token", "Bearer nope", codes.Unauthenticated},
		{"token", "Bearer s3cret", codes.OK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t)
			if tt.auth != "" {
				ctx = metadata.AppendToOutgoingContext(ctx, "authorization", tt.auth)
			}
			got, err := grpcserver.ListServices(ctx, s.conn)
			if status.Code(err) != tt.want {
				t.Fatalf("ListServices: %v, want %v", err, tt.want)
			}
			if err == nil && !slices.Contains(got, consumerv1.EventConsumerService_ServiceDesc.ServiceName) {
				t.Fatalf("services %q", got)
			}
		})
	}
}
