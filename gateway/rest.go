package gateway

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"unicode"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	adminv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/admin/v1"
)

// restHandler serves AdminService as REST under /v1/ (proto/http.yaml) through conn,
// requiring "Authorization: Bearer <token>" when token is set. Errors are
// {"error":{"code":"not_found","message":"…"}} with the matching HTTP status.
//
// TODO(platform/restgw): this is the shape platform/restgw is specified to provide;
// switch to restgw.New once it lands so every binary's REST errors stay identical.
func restHandler(ctx context.Context, conn *grpc.ClientConn, token string) (http.Handler, error) {
	mux := runtime.NewServeMux(runtime.WithErrorHandler(restError))
	if err := adminv1.RegisterAdminServiceHandler(ctx, mux, conn); err != nil {
		return nil, fmt.Errorf("register admin REST handlers: %w", err)
	}
	if token == "" {
		return mux, nil
	}
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="hookmesh"`)
			writeRESTError(w, http.StatusUnauthorized, "unauthenticated", "a valid bearer token is required")
			return
		}
		mux.ServeHTTP(w, r)
	}), nil
}

func restError(_ context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, _ *http.Request, err error) {
	st := status.Convert(err)
	writeRESTError(w, runtime.HTTPStatusFromCode(st.Code()), codeName(st.Code()), st.Message())
}

func writeRESTError(w http.ResponseWriter, httpStatus int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(httpStatus)
	b, _ := json.Marshal(map[string]map[string]string{"error": {"code": code, "message": msg}})
	_, _ = w.Write(append(b, '\n'))
}

// codeName turns codes.NotFound into "not_found".
func codeName(c codes.Code) string {
	var b strings.Builder
	for i, r := range c.String() {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

func promHandler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}
