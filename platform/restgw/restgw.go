// Package restgw is the REST front door over gRPC services (grpc-gateway):
// handlers are registered over a real *grpc.ClientConn, so the server's
// interceptors and otelgrpc run for REST calls too, and every error is the
// JSON shape {"error":{"code":"not_found","message":"…"}} with the matching
// HTTP status.
package restgw

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
)

// RegisterFunc matches the generated Register…Handler functions, e.g.
// adminv1.RegisterAdminServiceHandler.
type RegisterFunc = func(ctx context.Context, mux *runtime.ServeMux, conn *grpc.ClientConn) error

// Config configures the REST handler.
type Config struct {
	// Conn reaches the gRPC services (in-process loopback or remote). Give it
	// an otelgrpc client stats handler so REST calls are traced as gRPC hops.
	Conn *grpc.ClientConn
	// Register adds each service's routes.
	Register []func(ctx context.Context, mux *runtime.ServeMux, conn *grpc.ClientConn) error
	// AdminToken, when set, is required as "Authorization: Bearer <token>".
	AdminToken string
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	switch {
	case c.Conn == nil:
		return errors.New("restgw: Conn is required")
	case len(c.Register) == 0:
		return errors.New("restgw: at least one Register function is required")
	}
	for i, r := range c.Register {
		if r == nil {
			return fmt.Errorf("restgw: Register[%d] is nil", i)
		}
	}
	return nil
}

// New returns the REST handler. JSON uses the proto field names
// (snake_case), includes unpopulated fields, and rejects unknown fields in
// request bodies. Enum query parameters also take short names (state=dead).
func New(cfg Config) (http.Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	installQueryParser()
	mux := runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.HTTPBodyMarshaler{
			Marshaler: &runtime.JSONPb{
				MarshalOptions:   protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true},
				UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
			},
		}),
		runtime.WithErrorHandler(errorHandler),
		runtime.WithRoutingErrorHandler(routingErrorHandler),
	)
	// The context only scopes registration; generated handlers use each
	// request's own context.
	ctx := context.Background()
	for i, register := range cfg.Register {
		if err := register(ctx, mux, cfg.Conn); err != nil {
			return nil, fmt.Errorf("restgw: register service %d: %w", i, err)
		}
	}
	var h http.Handler = mux
	if cfg.AdminToken != "" {
		h = BearerAuth(cfg.AdminToken)(h)
	}
	return h, nil
}

// CodeName is the lower-case canonical name of a gRPC code ("not_found"), as
// google.rpc.Code names it; "unknown" for a code outside it.
func CodeName(c codes.Code) string {
	if c > codes.Unauthenticated {
		return "unknown"
	}
	return strings.ToLower(code.Code(c).String())
}

func errorHandler(_ context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, _ *http.Request, err error) {
	WriteStatus(w, err)
}

// WriteStatus writes a gRPC error as the REST API does: the matching HTTP status,
// the JSON error shape, and Retry-After from a RetryInfo detail (plain HTTP
// handlers beside the grpc-gateway routes use it too).
func WriteStatus(w http.ResponseWriter, err error) {
	s := status.Convert(err)
	for _, d := range s.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok && ri.GetRetryDelay() != nil {
			// Whole seconds, rounded up: what HTTP clients (and Hasura) understand.
			secs := (ri.GetRetryDelay().AsDuration().Milliseconds() + 999) / 1000
			w.Header().Set("Retry-After", strconv.FormatInt(max(secs, 1), 10))
		}
	}
	WriteError(w, runtime.HTTPStatusFromCode(s.Code()), CodeName(s.Code()), s.Message())
}

func routingErrorHandler(_ context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, r *http.Request, httpStatus int) {
	switch httpStatus {
	case http.StatusNotFound:
		WriteError(w, httpStatus, "not_found", "no route for "+r.Method+" "+r.URL.Path)
	case http.StatusMethodNotAllowed:
		WriteError(w, httpStatus, "method_not_allowed", "method "+r.Method+" is not allowed on "+r.URL.Path)
	case http.StatusBadRequest:
		WriteError(w, httpStatus, "invalid_argument", "malformed request path")
	default:
		WriteError(w, httpStatus, strings.ReplaceAll(strings.ToLower(http.StatusText(httpStatus)), " ", "_"), http.StatusText(httpStatus))
	}
}
