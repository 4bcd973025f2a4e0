package eventlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Names of the log's JetStream objects (each prefixed with Config.StreamPrefix).
const (
	StreamName  = "HOOKMESH_EVENTS" // the event stream
	SubjectRoot = "hookmesh.events" // events are published on SubjectRoot.<source>.<key(id)>
	HeaderType  = "Hookmesh-Type"   // event type, for filtering without decoding
)

// Layout is the log's stream and subjects under a StreamPrefix, for the
// components that read the stream with a JetStream context of their own (the
// dispatcher): eventlog is the one owner of these names.
type Layout struct{ prefix string }

// LayoutFor is the layout under prefix (Config.StreamPrefix).
func LayoutFor(prefix string) Layout { return Layout{prefix: prefix} }

// Stream is the event stream's name.
func (x Layout) Stream() string { return x.prefix + StreamName }

// SubjectFilter matches every event subject.
func (x Layout) SubjectFilter() string { return x.subjectRoot() + ".>" }

// SourceFilter matches every event of source (one subject per event).
func (x Layout) SourceFilter(source string) string { return x.subjectRoot() + "." + source + ".>" }

func (x Layout) subjectRoot() string { return x.prefix + SubjectRoot }

// MinServerVersion is the oldest NATS server the log runs on: batched direct gets and
// direct gets by start time arrived in 2.11 (Debian's 2.9 is too old).
const MinServerVersion = "2.11.0"

// Errors returned (wrapped) by the log.
var (
	// ErrUnavailable: the log cannot take or serve events now (server down, a
	// concurrent append of the same event in flight on a cluster, closed); retry later
	// (HTTP 503 with Retry-After).
	ErrUnavailable = errors.New("eventlog: unavailable")
	// ErrFull: the stream reached its limits and refuses new events; old ones are kept.
	ErrFull = errors.New("eventlog: full")
	// ErrTooLarge: the encoded event exceeds the server's max_payload.
	ErrTooLarge = errors.New("eventlog: event too large")
	// ErrInvalid: the event (or lookup key, filter, cursor) cannot be stored or used.
	ErrInvalid = errors.New("eventlog: invalid")
	// ErrNotFound: no such event in the log.
	ErrNotFound = errors.New("eventlog: not found")
)

// InvalidError is an ErrInvalid (errors.Is) with its reason, for callers that
// show the reason to whoever sent the event or the query (errors.As).
type InvalidError struct {
	Reason string
	Err    error // the cause, if any
}

func (e *InvalidError) Error() string { return "eventlog: invalid: " + e.Reason }

// Is makes the error an ErrInvalid.
func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }

func (e *InvalidError) Unwrap() error { return e.Err }

func invalid(format string, args ...any) error {
	return &InvalidError{Reason: fmt.Sprintf(format, args...)}
}

// Log is the durable, de-duplicated event log on NATS JetStream. It is safe for
// concurrent use.
type Log struct {
	cfg    Config
	logger *slog.Logger

	srv    *server.Server // embedded server; nil with an external URL
	unlock func()         // releases the data dir lock

	nc     *nats.Conn // Conn(): reads, monitoring, shared with the dispatcher
	js     jetstream.JetStream
	pool   []appendConn // Append's connections, taken in turn
	next   atomic.Uint32
	stream jetstream.Stream

	streamName  string // prefixed StreamName
	subjectRoot string // prefixed SubjectRoot

	bufs sync.Pool

	fullState atomic.Pointer[readyState] // for Ready: the stream is full
	full      atomic.Bool                // an append was refused as full; cleared by the monitor or a success
	closed    atomic.Bool

	lastOK   atomic.Int64 // unix nanos of the last append JetStream answered (stored or duplicate)
	lastFail atomic.Int64 // unix nanos of the last append that failed as unavailable
	probeMu  sync.Mutex   // one probe at a time
	probed   atomic.Pointer[probeResult]

	bg       context.Context // lives until Close: the monitor
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	closeMu  sync.Mutex
	closeErr error
}

type readyState struct{ err error }

type appendConn struct {
	nc *nats.Conn
}

// Open starts (embedded) or connects to (URL) the server and creates or updates the
// stream. The log takes writes as soon as it returns.
func Open(ctx context.Context, cfg Config, logger *slog.Logger) (*Log, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.StartTimeout)
		defer cancel()
	}
	l := &Log{
		cfg:         cfg,
		logger:      logger,
		streamName:  LayoutFor(cfg.StreamPrefix).Stream(),
		subjectRoot: LayoutFor(cfg.StreamPrefix).subjectRoot(),
		unlock:      func() {},
	}
	l.fullState.Store(&readyState{})
	if err := l.open(ctx); err != nil {
		_ = l.shutdown() // the open error says more
		return nil, err
	}
	return l, nil
}

func (l *Log) open(ctx context.Context) error {
	l.bg, l.cancel = context.WithCancel(context.Background())
	if l.cfg.URL == "" {
		if err := l.startEmbedded(ctx); err != nil {
			return err
		}
	}
	var err error
	if l.nc, err = l.connect(ctx, l.cfg.Name); err != nil {
		return err
	}
	if err := l.checkServer(); err != nil {
		return err
	}
	if l.js, err = jetstream.New(l.nc, jetstream.WithDefaultTimeout(l.cfg.Timeout)); err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	for i := range l.cfg.Connections {
		nc, err := l.connect(ctx, fmt.Sprintf("%s-append-%d", l.cfg.Name, i))
		if err != nil {
			return err
		}
		l.pool = append(l.pool, appendConn{nc: nc})
	}
	if err := l.retrySetup(ctx, "create stream", func(ctx context.Context) error {
		l.stream, err = l.js.CreateOrUpdateStream(ctx, l.streamConfig())
		return err
	}); err != nil {
		return err
	}
	if err := l.checkLayout(ctx); err != nil {
		return err
	}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		l.monitor(l.bg)
	}()
	return nil
}

// checkLayout refuses a stream written by the earlier layout (every event of a source
// on one subject, <root>.<source>, deduplicated through a separate index bucket):
// this version would not recognise those events' ids, so re-sent ones would be
// stored twice.
func (l *Log) checkLayout(ctx context.Context) error {
	info, err := l.stream.Info(ctx, jetstream.WithSubjectFilter(l.subjectRoot+".*"))
	if err != nil {
		return fmt.Errorf("check event log layout: %w: %w", ErrUnavailable, err)
	}
	for subject := range info.State.Subjects {
		return fmt.Errorf("%w: stream %s holds events on %s, the layout before one subject per event; "+
			"this version cannot de-duplicate them: start on an empty data dir (or stream)", ErrConfig, l.streamName, subject)
	}
	return nil
}

func (l *Log) streamConfig() jetstream.StreamConfig {
	maxAge := l.cfg.MaxAge
	if maxAge < 0 {
		maxAge = 0
	}
	return jetstream.StreamConfig{
		Name:        l.streamName,
		Description: "hookmesh events, one per (source, id)",
		Subjects:    []string{l.subjectRoot + ".>"},
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardNew, // refuse new events when full, never drop old ones
		MaxAge:      maxAge,
		MaxBytes:    l.cfg.MaxBytes,
		MaxMsgs:     -1,
		Duplicates:  l.cfg.DedupeWindow,
		Storage:     jetstream.FileStorage,
		Replicas:    l.cfg.Replicas,
		AllowDirect: true,
	}
}

// retrySetup retries a setup step while a (new) cluster elects its leaders. A request
// sent before there is a leader may get no answer at all, so each attempt has its own
// timeout, growing from one second to Config.Timeout.
func (l *Log) retrySetup(ctx context.Context, what string, fn func(ctx context.Context) error) error {
	logger := l.logger
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, min(time.Duration(attempt)*time.Second, l.cfg.Timeout))
		err := fn(actx)
		cancel()
		if err == nil {
			return nil
		}
		if !setupRetryable(err) {
			return fmt.Errorf("%s: %w: %w", what, ErrConfig, err) // the server refused the config
		}
		logger.DebugContext(ctx, "event log setup step failed, retrying", "step", what, "attempt", attempt, "error", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w (last error: %w)", what, ErrUnavailable, err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// setupRetryable tells a cluster still forming (no leader, no peers yet, JetStream
// starting) from a refusal of the config itself.
func setupRetryable(err error) bool {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return true // timeouts, no responders, connection trouble
	}
	switch apiErr.ErrorCode {
	case 10005, // no suitable peers for placement (yet)
		10009: // not the leader
		return true
	}
	return apiErr.Code == 503
}

func (l *Log) startEmbedded(ctx context.Context) error {
	dir := filepath.Join(l.cfg.DataDir, "eventlog")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create event log dir: %w", err)
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return err
	}
	l.unlock = unlock
	opts := &server.Options{
		ServerName: "hookmesh-embedded",
		DontListen: true, // in-process connections only: never a port, never 4222
		JetStream:  true,
		StoreDir:   dir,
		MaxPayload: l.cfg.MaxPayload,
		SyncAlways: l.cfg.Sync == SyncAlways,
		NoSigs:     true,
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return fmt.Errorf("embedded nats server: %w", err)
	}
	srv.SetLoggerV2(serverLogger{l.logger}, false, false, false)
	l.srv = srv
	srv.Start()
	wait := DefaultStartTimeout
	if d, ok := ctx.Deadline(); ok {
		wait = time.Until(d)
	}
	if !srv.ReadyForConnections(wait) {
		return fmt.Errorf("embedded nats server: %w: not ready after %s", ErrUnavailable, wait.Round(time.Millisecond))
	}
	if !srv.JetStreamEnabled() {
		return fmt.Errorf("embedded nats server: %w: jetstream did not start", ErrUnavailable)
	}
	return nil
}

func (l *Log) connect(ctx context.Context, name string) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		// Fail publishes at once while disconnected rather than buffering them: the
		// caller answers 503 and the sender retries.
		nats.ReconnectBufSize(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			l.logger.Warn("event log connection lost", "conn", name, "error", err)
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			l.logger.Info("event log connection restored", "conn", name, "server", c.ConnectedServerName())
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			l.logger.Warn("event log connection error", "conn", name, "error", err)
		}),
	}
	url := l.cfg.URL
	if l.srv != nil {
		opts = append(opts, nats.InProcessServer(l.srv))
		url = ""
	} else {
		timeout := l.cfg.Timeout
		if d, ok := ctx.Deadline(); ok {
			timeout = min(timeout, time.Until(d))
		}
		opts = append(opts, nats.Timeout(timeout))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to nats: %w: %w", ErrUnavailable, err)
	}
	return nc, nil
}

// checkServer refuses servers that are too old or whose max_payload cannot carry the
// largest event a source may produce.
func (l *Log) checkServer() error {
	version := l.nc.ConnectedServerVersion()
	if !versionAtLeast(version, MinServerVersion) {
		return fmt.Errorf("%w: nats server %s is older than %s", ErrConfig, version, MinServerVersion)
	}
	need := RequiredPayload(l.cfg.MaxBodyBytes)
	if got := l.nc.MaxPayload(); got < need {
		return fmt.Errorf("%w: nats server max_payload is %d bytes; events from %d-byte bodies need %d (set max_payload: 8MB on the server)",
			ErrConfig, got, l.cfg.MaxBodyBytes, need)
	}
	return nil
}

// versionAtLeast compares dotted numeric versions ("2.11.0", "v2.15.3-beta").
func versionAtLeast(have, want string) bool {
	parse := func(v string) [3]int {
		var out [3]int
		v = strings.TrimPrefix(v, "v")
		if i := strings.IndexAny(v, "-+"); i >= 0 {
			v = v[:i]
		}
		for i, part := range strings.SplitN(v, ".", 3) {
			n, err := strconv.Atoi(part)
			if err != nil {
				return [3]int{-1}
			}
			out[i] = n
		}
		return out
	}
	h, w := parse(have), parse(want)
	for i := range h {
		if h[i] != w[i] {
			return h[i] > w[i]
		}
	}
	return true
}

// JetStream returns the JetStream handle on Conn, for the dispatcher's own streams
// and consumers.
func (l *Log) JetStream() jetstream.JetStream { return l.js }

// Conn returns the log's NATS connection (in-process for the embedded server).
func (l *Log) Conn() *nats.Conn { return l.nc }

// Stream returns the event stream's name (StreamName with the prefix).
func (l *Log) Stream() string { return l.streamName }

// EventSubject returns the subject the event (source, id) is stored on.
func (l *Log) EventSubject(source, id string) string {
	return l.subjectRoot + "." + source + "." + eventKey(id)
}

// SourceFilter matches every event of source.
func (l *Log) SourceFilter(source string) string {
	return LayoutFor(l.cfg.StreamPrefix).SourceFilter(source)
}

// SubjectFilter matches every event subject.
func (l *Log) SubjectFilter() string { return LayoutFor(l.cfg.StreamPrefix).SubjectFilter() }

// Close stops the monitor, drains the connections and stops the embedded server.
// Later calls return the first result.
func (l *Log) Close() error {
	l.closeMu.Lock()
	defer l.closeMu.Unlock()
	if l.closed.Swap(true) {
		return l.closeErr
	}
	l.closeErr = l.shutdown()
	return l.closeErr
}

func (l *Log) shutdown() error {
	l.closed.Store(true)
	if l.cancel != nil {
		l.cancel()
	}
	l.wg.Wait()
	var errs []error
	conns := []*nats.Conn{l.nc}
	for _, c := range l.pool {
		conns = append(conns, c.nc)
	}
	for _, nc := range conns {
		if err := drain(nc, 5*time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	if l.srv != nil {
		l.srv.Shutdown()
		l.srv.WaitForShutdown()
	}
	l.unlock()
	return errors.Join(errs...)
}

// drain flushes what nc still has to send and closes it, giving up after limit.
func drain(nc *nats.Conn, limit time.Duration) error {
	if nc == nil || nc.IsClosed() {
		return nil
	}
	if !nc.IsConnected() {
		nc.Close()
		return nil
	}
	if err := nc.Drain(); err != nil {
		nc.Close()
		if errors.Is(err, nats.ErrConnectionClosed) {
			return nil
		}
		return fmt.Errorf("drain nats connection: %w", err)
	}
	deadline := time.Now().Add(limit)
	for !nc.IsClosed() {
		if time.Now().After(deadline) {
			nc.Close()
			return fmt.Errorf("drain nats connection: %w: still draining after %s", ErrUnavailable, limit)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return nil
}
