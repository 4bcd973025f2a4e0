// Package ingest is the HTTP front door for webhooks: POST /hooks/{source}. It
// checks the request against its source (content type, size, authentication, rate),
// normalises it into an event, appends it to the event log and answers 2xx only once
// the log acknowledged it. Every refusal is {"error":{"code","message"}} with nothing
// appended (DESIGN.md Promise 4).
package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/codes"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hookmesh/hookmesh/gateway/internal/eventlog"
	"github.com/hookmesh/hookmesh/gateway/internal/ratelimit"
	"github.com/hookmesh/hookmesh/gateway/internal/webhook"
	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
	"github.com/hookmesh/hookmesh/platform/httpserver"
	"github.com/hookmesh/hookmesh/platform/spanattr"
)

// Appender stores an event once per (source, id) and returns only after it is
// durable (the event log). Errors wrap eventlog.ErrUnavailable / ErrFull when the
// log cannot take the event now, ErrTooLarge / ErrInvalid when it never will.
type Appender interface {
	Append(ctx context.Context, ev *eventv1.Event) (eventlog.AppendResult, error)
}

// ContentTypeChecker is implemented by sources that refuse some media types before
// the body is read (415); other sources decide in Normalize.
type ContentTypeChecker interface {
	AcceptsContentType(mediaType string) bool
}

// BodyTracer is implemented by sources whose body can carry the sender's trace
// context (Hasura's event.trace_context), used when no trace header came.
type BodyTracer interface {
	BodyTraceparent(body []byte) string
}

// Trace modes (config.TraceContinue / TraceLink).
const (
	TraceContinue = "continue"
	TraceLink     = "link"
)

// Route is one configured source.
type Route struct {
	Name         string         // path segment and the events' source
	Source       webhook.Source // verifies and normalises
	MaxBodyBytes int            // default 1 MiB
	BodyTimeout  time.Duration  // the body's deadline after the headers (408); default DefaultBodyTimeout
	Trace        string         // continue (default) or link
	RateLimit    ratelimit.Config
	// Warnings are logged once by New (e.g. a secret not in its provider's format).
	Warnings []string
}

// Config configures the handler.
type Config struct {
	Routes []Route
	Log    Appender
	// TracerProvider traces requests; nil means no tracing (trace fields still carry
	// a continued sender context).
	TracerProvider trace.TracerProvider
	Logger         *slog.Logger
	// Metrics registers hookmesh_ingest_requests_total; nil registers nothing.
	Metrics Registerer
	// Now is the clock for verification and received_time; nil means time.Now.
	Now func() time.Time
	// UnavailableRetryAfter and FullRetryAfter are the Retry-After of a 503 when the
	// log is unavailable (default 1s) or full (default 30s).
	UnavailableRetryAfter time.Duration
	FullRetryAfter        time.Duration
	// MaxBodiesInFlight caps requests reading or holding a body at once (503
	// over_capacity, Retry-After 1); default DefaultMaxBodiesInFlight.
	MaxBodiesInFlight int
}

// Validate reports a config the handler cannot run with.
func (c *Config) Validate() error {
	if c.Log == nil {
		return errors.New("ingest: Log is required")
	}
	if c.MaxBodiesInFlight < 0 {
		return errors.New("ingest: negative MaxBodiesInFlight")
	}
	seen := map[string]bool{}
	for _, r := range c.Routes {
		switch {
		case r.Name == "" || strings.ContainsAny(r.Name, "/?#"):
			return fmt.Errorf("ingest: invalid source name %q", r.Name)
		case seen[r.Name]:
			return fmt.Errorf("ingest: duplicate source %q", r.Name)
		case r.Source == nil:
			return fmt.Errorf("ingest: source %q has no verifier", r.Name)
		case r.MaxBodyBytes < 0:
			return fmt.Errorf("ingest: source %q: negative max body bytes", r.Name)
		case r.BodyTimeout < 0:
			return fmt.Errorf("ingest: source %q: negative body timeout", r.Name)
		case r.Trace != "" && r.Trace != TraceContinue && r.Trace != TraceLink:
			return fmt.Errorf("ingest: source %q: trace mode %q", r.Name, r.Trace)
		}
		if err := r.RateLimit.Validate(); err != nil {
			return fmt.Errorf("ingest: source %q: %w", r.Name, err)
		}
		seen[r.Name] = true
	}
	return nil
}

// Handler serves POST /hooks/{source}. Mount it on a ServeMux pattern with a
// {source} wildcard; it also works on any path ending in /<source>.
type Handler struct {
	routes  map[string]*route
	log     Appender
	logger  *slog.Logger
	now     func() time.Time
	unavail string // Retry-After seconds
	full    string
	metrics *metrics

	inFlight    atomic.Int64 // requests past the route checks, reading or holding a body
	maxInFlight int64
}

type route struct {
	Route
	accepts ContentTypeChecker
	tracer  BodyTracer
	limiter *ratelimit.Limiter
	traced  http.Handler // the otelhttp-wrapped second half; nil when tracing is off
	counts  *routeCounters
}

// New builds the handler.
func New(cfg Config) (*Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.UnavailableRetryAfter <= 0 {
		cfg.UnavailableRetryAfter = time.Second
	}
	if cfg.FullRetryAfter <= 0 {
		cfg.FullRetryAfter = 30 * time.Second
	}
	tp := cfg.TracerProvider
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	if cfg.MaxBodiesInFlight == 0 {
		cfg.MaxBodiesInFlight = DefaultMaxBodiesInFlight
	}
	h := &Handler{
		routes:  make(map[string]*route, len(cfg.Routes)),
		log:     cfg.Log,
		logger:  cfg.Logger,
		now:     cfg.Now,
		unavail: strconv.Itoa(ratelimit.RetryAfterSeconds(cfg.UnavailableRetryAfter)),
		full:    strconv.Itoa(ratelimit.RetryAfterSeconds(cfg.FullRetryAfter)),

		maxInFlight: int64(cfg.MaxBodiesInFlight),
	}
	m, err := newMetrics(cfg.Metrics, func() float64 { return float64(h.inFlight.Load()) })
	if err != nil {
		return nil, err
	}
	h.metrics = m
	for _, r := range cfg.Routes {
		for _, w := range r.Warnings {
			cfg.Logger.Warn("source config", "source", r.Name, "warning", w)
		}
		rt := &route{Route: r, limiter: ratelimit.New(r.RateLimit), counts: m.route(r.Name)}
		if rt.MaxBodyBytes == 0 {
			rt.MaxBodyBytes = 1 << 20
		}
		if rt.BodyTimeout == 0 {
			rt.BodyTimeout = DefaultBodyTimeout
		}
		if rt.Trace == "" {
			rt.Trace = TraceContinue
		}
		rt.accepts, _ = r.Source.(ContentTypeChecker)
		rt.tracer, _ = r.Source.(BodyTracer)
		opts := []otelhttp.Option{
			otelhttp.WithTracerProvider(tp),
			otelhttp.WithPropagators(Propagator()),
			// Request metrics are Prometheus counters of our own; skip otel's.
			otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()),
			otelhttp.WithSpanNameFormatter(func(string, *http.Request) string { return "POST /hooks/" + r.Name }),
		}
		if rt.Trace == TraceLink {
			// An untrusted sender's context becomes a link of a new trace.
			opts = append(opts, otelhttp.WithPublicEndpointFn(func(*http.Request) bool { return true }))
		}
		if _, off := tp.(noop.TracerProvider); !off {
			rt.traced = otelhttp.NewHandler(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				st, _ := req.Context().Value(bodyKey{}).(*requestState)
				if st == nil {
					writeError(w, http.StatusInternalServerError, "internal", "request state missing", "")
					return
				}
				h.handle(req.Context(), w, req, rt, st)
			}), "POST /hooks/"+r.Name, opts...)
		}
		h.routes[r.Name] = rt
	}
	return h, nil
}

type bodyKey struct{}

// ServeHTTP does the checks that need no verified body, then hands over to the
// traced half.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("source")
	if name == "" {
		name = r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
	}
	rt := h.routes[name]
	if rt == nil {
		h.metrics.unknown()
		writeError(w, http.StatusNotFound, webhook.CodeUnknownSource, "no source named "+strconv.Quote(truncate(name, 64)), "")
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		rt.counts.inc("method_not_allowed")
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "webhooks are POSTed", "")
		return
	}
	mediaType := mediaTypeOf(r.Header.Get("Content-Type"))
	if rt.accepts != nil && !rt.accepts.AcceptsContentType(mediaType) {
		rt.counts.inc(webhook.CodeUnsupportedMediaType)
		writeError(w, http.StatusUnsupportedMediaType, webhook.CodeUnsupportedMediaType,
			"source "+name+" does not take content type "+strconv.Quote(truncate(mediaType, 64)), "")
		return
	}
	if h.inFlight.Add(1) > h.maxInFlight {
		h.inFlight.Add(-1)
		rt.counts.inc(webhook.CodeOverCapacity)
		writeError(w, http.StatusServiceUnavailable, webhook.CodeOverCapacity, "too many webhooks in flight; retry", "1")
		return
	}
	defer h.inFlight.Add(-1)
	setBodyDeadline(w, rt.BodyTimeout, httpserver.DefaultWriteTimeout)
	body, err := readBody(r, rt.MaxBodyBytes)
	if err != nil {
		h.bodyFailed(w, r, rt, err)
		return
	}
	// Hasura without trace headers still carries its trace in the body: hand it to the
	// propagator as a traceparent. Like a trace header, it only chooses the parent span.
	traced := r.Header.Get("traceparent") != "" || r.Header.Get("X-B3-TraceId") != "" || r.Header.Get("b3") != ""
	if rt.tracer != nil && !traced {
		if tp := rt.tracer.BodyTraceparent(body); tp != "" {
			r.Header.Set("traceparent", tp)
			traced = true
		}
	}
	st := &requestState{body: body, mediaType: mediaType}
	if rt.traced == nil {
		// No tracing: otelhttp would only extract the sender's context and wrap the
		// request and response for a span nobody records; extract it directly, when
		// there is one (baggage alone would change nothing that is kept).
		ctx := r.Context()
		if traced {
			ctx = Propagator().Extract(ctx, propagation.HeaderCarrier(r.Header))
		}
		h.handle(ctx, w, r, rt, st)
		return
	}
	rt.traced.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), bodyKey{}, st)))
}

// verify runs the source's check, in a child span when the request is traced; the
// span carries the source and, on failure, the error code (never header values).
func (h *Handler) verify(ctx context.Context, span trace.Span, rt *route, req *webhook.Request, now time.Time) error {
	if !span.IsRecording() {
		return rt.Source.Verify(req, now)
	}
	_, vspan := span.TracerProvider().Tracer("github.com/hookmesh/hookmesh/gateway/internal/ingest").Start(ctx, "webhook.verify",
		trace.WithAttributes(spanattr.KeyEventSource.String(rt.Name)))
	defer vspan.End()
	err := rt.Source.Verify(req, now)
	if err != nil {
		code := webhook.CodeSignatureMismatch
		var we *webhook.Error
		if errors.As(err, &we) {
			code = we.Code
		}
		vspan.SetStatus(codes.Error, code)
	}
	return err
}

type requestState struct {
	body      []byte
	mediaType string
}

func (h *Handler) handle(ctx context.Context, w http.ResponseWriter, r *http.Request, rt *route, st *requestState) {
	span := trace.SpanFromContext(ctx)
	now := h.now()
	req := &webhook.Request{Source: rt.Name, Header: r.Header, Body: st.body, ContentType: st.mediaType, URLQuery: r.URL.RawQuery}

	if err := h.verify(ctx, span, rt, req, now); err != nil {
		h.fail(ctx, w, rt, span, err, http.StatusUnauthorized, webhook.CodeSignatureMismatch)
		return
	}
	if ok, wait := rt.limiter.Allow(now); !ok {
		rt.counts.inc(webhook.CodeRateLimited)
		span.SetStatus(codes.Error, webhook.CodeRateLimited)
		writeError(w, http.StatusTooManyRequests, webhook.CodeRateLimited,
			"source "+rt.Name+" is over its rate limit", strconv.Itoa(ratelimit.RetryAfterSeconds(wait)))
		return
	}
	res, err := rt.Source.Normalize(req)
	if err != nil {
		h.fail(ctx, w, rt, span, err, http.StatusBadRequest, webhook.CodeInvalidPayload)
		return
	}
	if res.Event == nil {
		// A handshake (Slack url_verification, GitHub ping): answered, nothing stored.
		rt.counts.inc("reply")
		ct := res.ReplyContentType
		if ct == "" {
			ct = "application/json"
		}
		w.Header().Set("Content-Type", ct)
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(res.Reply)
		return
	}
	ev := res.Event
	ev.Source = rt.Name
	ev.ReceivedTime = timestamppb.New(now)
	if ev.Time == nil {
		ev.Time = ev.ReceivedTime // the sender gave no time: receipt is the best we know
	}
	// A remote span context here means no local span was started (tracing off): keep
	// the sender's context only where it is trusted.
	if sc := span.SpanContext(); sc.IsValid() && (!sc.IsRemote() || rt.Trace == TraceContinue) {
		ev.Traceparent = traceparent(sc)
		ev.Tracestate = sc.TraceState().String()
	}
	if span.IsRecording() {
		span.SetAttributes(spanattr.EventAttributes(rt.Name, ev.Id, ev.Type)...)
	}

	ar, err := h.log.Append(ctx, ev)
	if err != nil {
		h.appendFailed(ctx, w, rt, span, ev, err)
		return
	}
	status := "accepted"
	if ar.Duplicate {
		status = "duplicate"
	}
	rt.counts.inc(status)
	if span.IsRecording() {
		span.SetAttributes(spanattr.KeyIngestStatus.String(status))
	}
	h.logger.DebugContext(ctx, "webhook stored", "source", rt.Name, "event_id", ev.Id, "type", ev.Type, "status", status)
	if res.AckEmpty {
		// Slack shows a slash command's answer to the user: acknowledge with nothing.
		w.WriteHeader(http.StatusOK)
		return
	}
	w.Header()["Content-Type"] = jsonContentType
	w.WriteHeader(http.StatusOK)
	b := make([]byte, 0, 48+len(ev.Id))
	b = append(b, `{"event_id":`...)
	b = appendJSONString(b, ev.Id)
	b = append(b, `,"status":"`...)
	b = append(b, status...)
	b = append(b, `"}`...)
	_, _ = w.Write(b)
}

// fail answers a source's error; a non-*webhook.Error (a bug in a source) falls back
// to the stage's status and code rather than leaking internals.
func (h *Handler) fail(ctx context.Context, w http.ResponseWriter, rt *route, span trace.Span, err error, status int, code string) {
	msg := "request refused"
	var we *webhook.Error
	if errors.As(err, &we) {
		status, code, msg = we.Status, we.Code, we.Message
	} else {
		h.logger.ErrorContext(ctx, "source returned an untyped error", "source", rt.Name, "error", err)
	}
	rt.counts.inc(code)
	span.SetStatus(codes.Error, code)
	h.logger.DebugContext(ctx, "webhook refused", "source", rt.Name, "code", code, "status", status)
	writeError(w, status, code, msg, "")
}

func (h *Handler) appendFailed(ctx context.Context, w http.ResponseWriter, rt *route, span trace.Span, ev *eventv1.Event, err error) {
	span.RecordError(err)
	switch {
	case errors.Is(err, eventlog.ErrInvalid):
		rt.counts.inc(webhook.CodeInvalidPayload)
		span.SetStatus(codes.Error, webhook.CodeInvalidPayload)
		writeError(w, http.StatusBadRequest, webhook.CodeInvalidPayload, "the event cannot be stored: "+invalidReason(err), "")
	case errors.Is(err, eventlog.ErrTooLarge):
		rt.counts.inc(webhook.CodeBodyTooLarge)
		span.SetStatus(codes.Error, webhook.CodeBodyTooLarge)
		writeError(w, http.StatusRequestEntityTooLarge, webhook.CodeBodyTooLarge, "the event is larger than the log takes", "")
	default:
		retry, msg := h.unavail, "the event log cannot take events now"
		if errors.Is(err, eventlog.ErrFull) {
			retry, msg = h.full, "the event log is full"
		}
		rt.counts.inc(webhook.CodeLogUnavailable)
		span.SetStatus(codes.Error, webhook.CodeLogUnavailable)
		h.logger.WarnContext(ctx, "append failed", "source", rt.Name, "event_id", ev.Id, "error", err)
		writeError(w, http.StatusServiceUnavailable, webhook.CodeLogUnavailable, msg, retry)
	}
}

// invalidReason is the log's explanation of an invalid event.
func invalidReason(err error) string {
	if ie, ok := errors.AsType[*eventlog.InvalidError](err); ok {
		return ie.Reason
	}
	return "invalid event"
}

// bodyFailed answers a body that could not be read: too large (413, the rest
// drained), too slow (408; the connection closes after it) or cut off (400).
func (h *Handler) bodyFailed(w http.ResponseWriter, r *http.Request, rt *route, err error) {
	switch {
	case errors.Is(err, errTooLarge):
		rt.counts.inc(webhook.CodeBodyTooLarge)
		writeTooLarge(w, r, "body is larger than "+strconv.Itoa(rt.MaxBodyBytes)+" bytes")
	case errors.Is(err, errBodyTimeout):
		rt.counts.inc(webhook.CodeRequestTimeout)
		w.Header().Set("Connection", "close")
		writeError(w, http.StatusRequestTimeout, webhook.CodeRequestTimeout,
			"the body did not arrive within "+rt.BodyTimeout.String(), "")
	default:
		rt.counts.inc("body_unreadable")
		writeError(w, http.StatusBadRequest, webhook.CodeInvalidPayload, "reading the body failed", "")
	}
}

// mediaTypeOf lower-cases the media type and drops parameters; the common exact
// "application/json" skips the parser.
func mediaTypeOf(ct string) string {
	if ct == "" || ct == "application/json" {
		return ct
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		// Unparseable: compare what precedes ';' so it is refused, not misread.
		mt, _, _ = strings.Cut(ct, ";")
		return strings.ToLower(strings.TrimSpace(mt))
	}
	return mt
}

func traceparent(sc trace.SpanContext) string {
	tid, sid := sc.TraceID(), sc.SpanID()
	b := make([]byte, 0, 55)
	b = append(b, "00-"...)
	b = appendHex(b, tid[:])
	b = append(b, '-')
	b = appendHex(b, sid[:])
	b = append(b, '-')
	return string(appendHex(b, []byte{byte(sc.TraceFlags())}))
}

func appendHex(b, src []byte) []byte {
	const digits = "0123456789abcdef"
	for _, c := range src {
		b = append(b, digits[c>>4], digits[c&0xf])
	}
	return b
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
