package gateway

import (
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"

	adminv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/admin/v1"
	"github.com/hookmesh/hookmesh/platform/restgw"
)

// restHandler serves AdminService as REST under /v1/ (proto/http.yaml) through
// conn, requiring "Authorization: Bearer <token>" when token is set.
func restHandler(conn *grpc.ClientConn, token string) (http.Handler, error) {
	h, err := restgw.New(restgw.Config{
		Conn:       conn,
		Register:   []restgw.RegisterFunc{adminv1.RegisterAdminServiceHandler},
		AdminToken: token,
	})
	if err != nil {
		return nil, fmt.Errorf("admin REST: %w", err)
	}
	return h, nil
}

func promHandler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}
