package grpcserver

import (
	"context"
	"errors"
	"slices"

	"google.golang.org/grpc"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
)

// ListServices asks a server's reflection service (grpc.reflection.v1) for the
// names of its services, sorted: what `grpcurl list` and `buf curl --list-services`
// do. Call options carry credentials, e.g. a bearer token. A failed call
// returns its gRPC status error as is (status.Code works on it).
func ListServices(ctx context.Context, conn grpc.ClientConnInterface, opts ...grpc.CallOption) ([]string, error) {
	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx, opts...)
	if err != nil {
		return nil, err
	}
	req := &reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{},
	}
	// A failed Send shows its status on Recv.
	_ = stream.Send(req)
	resp, err := stream.Recv()
	if err != nil {
		return nil, err
	}
	_ = stream.CloseSend()
	if e := resp.GetErrorResponse(); e != nil {
		return nil, errors.New("reflection list services: " + e.GetErrorMessage())
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	slices.Sort(names)
	return names, nil
}
