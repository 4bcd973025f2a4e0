package gateway

import (
	"context"
	"fmt"
	"net/http"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"

	adminv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/admin/v1"
	"github.com/hookmesh/hookmesh/platform/restgw"
)

// restHandler serves AdminService and the services' read APIs as REST under /v1/
// (proto/http.yaml) through gRPC connections, requiring "Authorization: Bearer
// <token>" when token is set, except on the public paths.
func restHandler(conn *grpc.ClientConn, token string, services []RESTService, public []string) (http.Handler, error) {
	register := []restgw.RegisterFunc{adminv1.RegisterAdminServiceHandler}
	for _, s := range services {
		register = append(register, func(ctx context.Context, mux *runtime.ServeMux, _ *grpc.ClientConn) error {
			return s.Register(ctx, mux, s.Conn)
		})
	}
	h, err := restgw.New(restgw.Config{Conn: conn, Register: register})
	if err != nil {
		return nil, fmt.Errorf("REST API: %w", err)
	}
	if token == "" {
		return h, nil
	}
	authed := restgw.BearerAuth(token)(h)
	isPublic := make(map[string]bool, len(public))
	for _, p := range public {
		isPublic[p] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isPublic[r.URL.Path] {
			h.ServeHTTP(w, r)
			return
		}
		authed.ServeHTTP(w, r)
	}), nil
}

// withToken requires "Authorization: Bearer <token>" when token is set (plain HTTP
// routes beside the grpc-gateway ones, e.g. GET /v1/schemas).
func withToken(token string, h http.Handler) http.Handler {
	if token == "" {
		return h
	}
	return restgw.BearerAuth(token)(h)
}

func promHandler(reg prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}
