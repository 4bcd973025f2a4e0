// Package telemetry sets up one component's tracing and metrics: an
// OpenTelemetry TracerProvider whose resource names the component (so the
// all-in-one process keeps gateway, email, … apart), OTLP export only when
// OTEL_EXPORTER_OTLP_ENDPOINT is set, a Prometheus registry, and the global
// propagator (W3C trace context + baggage + B3).
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/contrib/propagators/b3"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Config configures one component's telemetry.
type Config struct {
	// Component becomes the resource's service.name ("gateway", "email", …).
	// OTEL_SERVICE_NAME does not override it, so that components sharing a
	// process keep distinct names; other OTEL_RESOURCE_ATTRIBUTES apply.
	Component string
	// SpanExporter, when set, receives every span synchronously as it ends
	// (tests), instead of the exporter chosen from the environment.
	SpanExporter sdktrace.SpanExporter
	// Global also installs the TracerProvider as otel's global one. Leave it
	// false when several components share a process.
	Global bool
	// SkipRuntimeMetrics leaves the Go and process collectors out of Registry,
	// for all but one component when several registries are served together.
	SkipRuntimeMetrics bool
	// Logger receives OpenTelemetry's internal errors (an exporter that cannot
	// reach its collector, …). Default: slog.Default().
	Logger *slog.Logger
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	if strings.TrimSpace(c.Component) == "" {
		return errors.New("telemetry: Component is required")
	}
	return nil
}

// Provider is one component's telemetry.
type Provider struct {
	// TracerProvider creates the component's spans. It samples per
	// OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG (default: parent-based,
	// always on) and creates valid trace contexts even when nothing is exported.
	TracerProvider *sdktrace.TracerProvider
	// Registry holds the component's Prometheus metrics.
	Registry *prometheus.Registry
	// Exporting is true when spans leave the process (OTLP or SpanExporter).
	Exporting bool
}

// Propagator is W3C trace context + baggage + B3 (extracting single- and
// multi-header B3, injecting multi-header).
func Propagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(
		propagation.TraceContext{},
		propagation.Baggage{},
		b3.New(b3.WithInjectEncoding(b3.B3MultipleHeader)),
	)
}

// Setup builds the component's Provider and installs the global propagator.
func Setup(ctx context.Context, cfg Config) (*Provider, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	res, err := resource.New(ctx,
		resource.WithFromEnv(),
		resource.WithTelemetrySDK(),
		// Last, so it wins over OTEL_SERVICE_NAME.
		resource.WithAttributes(attribute.String("service.name", cfg.Component)),
	)
	if err != nil {
		return nil, fmt.Errorf("telemetry resource: %w", err)
	}
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	exporting := false
	switch {
	case cfg.SpanExporter != nil:
		opts = append(opts, sdktrace.WithSyncer(cfg.SpanExporter))
		exporting = true
	default:
		exp, err := envExporter(ctx)
		if err != nil {
			return nil, err
		}
		if exp != nil {
			opts = append(opts, sdktrace.WithBatcher(exp))
			exporting = true
		}
	}
	tp := sdktrace.NewTracerProvider(opts...)

	reg := prometheus.NewRegistry()
	if !cfg.SkipRuntimeMetrics {
		if err := errors.Join(
			reg.Register(collectors.NewGoCollector()),
			reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})),
		); err != nil {
			_ = tp.Shutdown(ctx)
			return nil, fmt.Errorf("register runtime metrics: %w", err)
		}
	}

	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	// Otherwise the SDK reports export failures through the log package.
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		logger.Error("opentelemetry error", "component", cfg.Component, "err", err)
	}))
	otel.SetTextMapPropagator(Propagator())
	if cfg.Global {
		otel.SetTracerProvider(tp)
	}
	return &Provider{TracerProvider: tp, Registry: reg, Exporting: exporting}, nil
}

// envExporter returns the OTLP exporter the standard OTEL_* variables ask
// for, or nil when no endpoint is set (or export is disabled).
func envExporter(ctx context.Context) (sdktrace.SpanExporter, error) {
	if strings.EqualFold(os.Getenv("OTEL_SDK_DISABLED"), "true") || strings.EqualFold(os.Getenv("OTEL_TRACES_EXPORTER"), "none") {
		return nil, nil
	}
	if os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
		return nil, nil
	}
	if e := os.Getenv("OTEL_TRACES_EXPORTER"); e != "" && !strings.EqualFold(e, "otlp") {
		return nil, fmt.Errorf("telemetry: OTEL_TRACES_EXPORTER %q is not supported (otlp or none)", e)
	}
	protocol := os.Getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if protocol == "" {
		protocol = os.Getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	// The exporters read endpoint, headers, TLS, compression and timeout from
	// the same variables themselves.
	switch protocol {
	case "grpc":
		exp, err := otlptracegrpc.New(ctx)
		if err != nil {
			return nil, fmt.Errorf("otlp grpc exporter: %w", err)
		}
		return exp, nil
	case "", "http/protobuf": // the specification's default
		exp, err := otlptracehttp.New(ctx)
		if err != nil {
			return nil, fmt.Errorf("otlp http exporter: %w", err)
		}
		return exp, nil
	default:
		return nil, fmt.Errorf("telemetry: OTLP protocol %q is not supported (grpc or http/protobuf)", protocol)
	}
}

// Tracer returns a named tracer of the component.
func (p *Provider) Tracer(name string) trace.Tracer { return p.TracerProvider.Tracer(name) }

// Handler serves the component's metrics in the Prometheus text format.
func (p *Provider) Handler() http.Handler {
	return promhttp.HandlerFor(p.Registry, promhttp.HandlerOpts{Registry: p.Registry})
}

// Shutdown flushes pending spans and stops the exporter. Call it last.
func (p *Provider) Shutdown(ctx context.Context) error {
	if err := p.TracerProvider.Shutdown(ctx); err != nil {
		return fmt.Errorf("shutdown tracer provider: %w", err)
	}
	return nil
}
