package eventlog

import (
	"errors"
	"fmt"
	"github.com/hookmesh/hookmesh/platform/envconfig"
	"regexp"
	"runtime"
	"time"
)

// Defaults applied by Config.setDefaults.
const (
	DefaultDataDir        = envconfig.DefaultDataDir
	DefaultMaxAge         = 7 * 24 * time.Hour
	DefaultMaxBytes       = int64(8 << 30)
	DefaultMaxPayload     = int32(8 << 20)
	DefaultMaxBodyBytes   = 1 << 20
	DefaultDedupeWindow   = 2 * time.Minute
	DefaultDedupeHorizon  = 96 * time.Hour
	DefaultTimeout        = 5 * time.Second
	DefaultAttemptTimeout = time.Second
	DefaultStartTimeout   = 30 * time.Second

	// envelopeHeadroom is what an event adds on top of its raw body and the typed copy
	// decoded from it: ids, type, subject, times, trace fields, headers.
	envelopeHeadroom = 64 << 10
)

// SyncAlways is the Config.Sync value that makes the embedded server fsync every
// write before acknowledging it (survives power loss, at a throughput cost).
const SyncAlways = "always"

// Config configures the event log. The zero value (plus a DataDir) runs the embedded
// server with the defaults above.
type Config struct {
	// DataDir holds the embedded server's file store (in DataDir/eventlog). It is
	// HOOKMESH_DATA_DIR; ignored when URL is set.
	DataDir string
	// URL of an external NATS server or cluster (HOOKMESH_NATS_URL, comma-separated
	// URLs allowed). Empty runs the embedded server in-process, with no TCP listener.
	URL string
	// Replicas of the stream (1, 3 or 5).
	// Must be 1 for the embedded server.
	Replicas int
	// MaxAge is how long events stay in the log (default 7 days); -1 keeps them forever.
	MaxAge time.Duration
	// MaxBytes caps the stream (default 8 GiB); -1 is unlimited. When full, new events
	// are refused (ErrFull) and old ones are never dropped.
	MaxBytes int64
	// MaxPayload is the embedded server's max_payload (default 8 MiB).
	MaxPayload int32
	// MaxBodyBytes is the largest body any source accepts (default 1 MiB). Open checks
	// that max_payload fits RequiredPayload(MaxBodyBytes), on an external server too.
	MaxBodyBytes int
	// Sync is "" (JetStream's default: write before ack, fsync on an interval) or
	// "always" (fsync before every ack; embedded server only — set sync_interval:
	// always on an external server yourself).
	Sync string
	// DedupeWindow is the stream's Nats-Msg-Id window (default 2 minutes). Appends do
	// not use it: every event is recognised by its own subject for as long as the log
	// keeps it.
	DedupeWindow time.Duration
	// DedupeHorizon is how long a (source, id) must stay known (default 96 hours). An
	// id is known as long as its event is kept, so MaxAge must be -1 or at least
	// DedupeHorizon.
	DedupeHorizon time.Duration
	// StreamPrefix isolates the log's streams, subjects, bucket and consumer on a shared
	// server (tests). Letters, digits, '_' and '-' only; default "".
	StreamPrefix string
	// Timeout bounds each request to the server when ctx has no earlier deadline
	// (default 5 s).
	Timeout time.Duration
	// AttemptTimeout bounds one publish of an append (default 1 s); Append sends the
	// same message again until Timeout (or ctx's deadline), so a request lost with a
	// dying stream leader is retried at its successor rather than waited out.
	AttemptTimeout time.Duration
	// StartTimeout bounds Open when ctx has no deadline (default 30 s): server start,
	// connection, stream and bucket setup (a new cluster may still elect its leader).
	StartTimeout time.Duration
	// Name is the NATS client connection name (default "hookmesh-gateway").
	Name string
	// Connections is how many connections Append spreads over, so that concurrent
	// appends are parsed and answered by more than one server and client goroutine.
	// Default: one per two CPUs, at most 4 (on 2 CPUs one connection costs about a
	// fifth less CPU per append than four: its writes coalesce). Conn() has its own.
	Connections int
	// Fault, when set, is called at named points of the append path (the Fault…
	// constants) and may block; an error aborts that step. Crash tests use it to kill
	// the process between two steps. Leave nil in production.
	Fault func(point string) error
}

// Fault points, in the order an event passes them.
const (
	// FaultChecked: the event is checked and encoded; nothing is published yet.
	FaultChecked = "checked"
	// FaultPublished: JetStream acknowledged the event; the caller has no answer yet.
	FaultPublished = "published"
)

// FaultPoints lists every fault point.
var FaultPoints = []string{FaultChecked, FaultPublished}

// ErrConfig marks an invalid Config or a server that does not fit it.
var ErrConfig = errors.New("eventlog: invalid config")

var prefixRE = regexp.MustCompile(`^[A-Za-z0-9_-]*$`)

// RequiredPayload is the max_payload an event built from a body of maxBody bytes
// needs: the raw body kept once, the typed payload decoded from it (about as large
// as the JSON it came from) and the envelope.
func RequiredPayload(maxBody int) int64 {
	return 2*int64(maxBody) + envelopeHeadroom
}

func (c *Config) setDefaults() {
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.MaxAge == 0 {
		c.MaxAge = DefaultMaxAge
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.MaxPayload == 0 {
		c.MaxPayload = DefaultMaxPayload
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.DedupeWindow == 0 {
		c.DedupeWindow = DefaultDedupeWindow
	}
	if c.DedupeHorizon == 0 {
		c.DedupeHorizon = DefaultDedupeHorizon
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.AttemptTimeout == 0 {
		c.AttemptTimeout = min(DefaultAttemptTimeout, c.Timeout)
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = DefaultStartTimeout
	}
	if c.Name == "" {
		c.Name = "hookmesh-gateway"
	}
	if c.Connections == 0 {
		c.Connections = min(max(runtime.GOMAXPROCS(0)/2, 1), 4)
	}
}

// Validate reports the first invalid field (after defaults).
func (c Config) Validate() error {
	embedded := c.URL == ""
	switch {
	case c.Replicas != 1 && c.Replicas != 3 && c.Replicas != 5:
		return fmt.Errorf("%w: replicas must be 1, 3 or 5, got %d", ErrConfig, c.Replicas)
	case embedded && c.Replicas != 1:
		return fmt.Errorf("%w: the embedded server holds one replica; set a NATS URL for replicas %d", ErrConfig, c.Replicas)
	case c.MaxAge < -1 || (c.MaxAge > 0 && c.MaxAge < c.DedupeWindow):
		return fmt.Errorf("%w: max age must be -1 or at least the dedupe window (%s)", ErrConfig, c.DedupeWindow)
	case c.MaxBytes < -1 || c.MaxBytes == 0:
		return fmt.Errorf("%w: max bytes must be positive or -1", ErrConfig)
	case c.MaxBodyBytes < 0:
		return fmt.Errorf("%w: max body bytes must be positive", ErrConfig)
	case c.MaxPayload <= 0 || c.MaxPayload > 64<<20:
		return fmt.Errorf("%w: max payload must be between 1 byte and 64 MiB", ErrConfig)
	case embedded && int64(c.MaxPayload) < RequiredPayload(c.MaxBodyBytes):
		return fmt.Errorf("%w: max payload %d is below the %d bytes a %d-byte body needs", ErrConfig,
			c.MaxPayload, RequiredPayload(c.MaxBodyBytes), c.MaxBodyBytes)
	case c.Sync != "" && c.Sync != SyncAlways:
		return fmt.Errorf("%w: sync must be empty or %q, got %q", ErrConfig, SyncAlways, c.Sync)
	case !embedded && c.Sync == SyncAlways:
		return fmt.Errorf("%w: sync always applies to the embedded server; set jetstream sync_interval: always on the external server", ErrConfig)
	case c.DedupeWindow < 100*time.Millisecond:
		return fmt.Errorf("%w: dedupe window must be at least 100ms", ErrConfig)
	case c.DedupeHorizon < c.DedupeWindow:
		return fmt.Errorf("%w: dedupe horizon must be at least the dedupe window", ErrConfig)
	case c.MaxAge > 0 && c.MaxAge < c.DedupeHorizon:
		return fmt.Errorf("%w: max age %s is shorter than the dedupe horizon %s: an event's id is known only while the event is kept",
			ErrConfig, c.MaxAge, c.DedupeHorizon)
	case !prefixRE.MatchString(c.StreamPrefix) || len(c.StreamPrefix) > 32:
		return fmt.Errorf("%w: stream prefix may hold up to 32 letters, digits, '_' and '-'", ErrConfig)
	case c.Connections < 1 || c.Connections > 64:
		return fmt.Errorf("%w: connections must be between 1 and 64", ErrConfig)
	case c.Timeout <= 0 || c.StartTimeout <= 0 || c.AttemptTimeout <= 0:
		return fmt.Errorf("%w: timeouts must be positive", ErrConfig)
	case c.AttemptTimeout > c.Timeout:
		return fmt.Errorf("%w: attempt timeout %s exceeds the timeout %s", ErrConfig, c.AttemptTimeout, c.Timeout)
	}
	return nil
}
