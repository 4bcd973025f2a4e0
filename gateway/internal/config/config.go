// Package config reads hookmesh's YAML file: sources, subscriptions, schedules and
// the event log settings (DESIGN.md, "The YAML file"). Decoding is strict
// (platform/yamlconfig): an unknown key or an invalid value is an error naming the key
// and its line; semantic checks below report their key and line the same way. Without a file the
// built-in demo config (demo.yaml) applies.
package config

import (
	_ "embed"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"gopkg.in/yaml.v3"

	"github.com/hookmesh/hookmesh/gateway/internal/eventlog"
	"github.com/hookmesh/hookmesh/gateway/internal/ratelimit"
	"github.com/hookmesh/hookmesh/gateway/internal/scheduler/cron"
	"github.com/hookmesh/hookmesh/gateway/internal/typedrows"
	"github.com/hookmesh/hookmesh/gateway/internal/webhook"
	"github.com/hookmesh/hookmesh/platform/yamlconfig"

	// The demo config's tables name these messages; linking them here keeps the
	// embedded default working without the repository's .proto files.
	_ "github.com/hookmesh/hookmesh/gen/go/hookmesh/demo/v1"
)

//go:embed demo.yaml
var demoYAML []byte

// Defaults.
const (
	DefaultMaxBodyBytes = 1 << 20
	// MaxMaxBodyBytes keeps one event well inside the log's largest max_payload.
	MaxMaxBodyBytes = 16 << 20
	// DefaultBodyTimeout is how long a source's body may take to arrive (408 after).
	DefaultBodyTimeout = 20 * time.Second
	MaxBodyTimeout     = 5 * time.Minute
	DefaultTimeout     = 30 * time.Second
	DefaultMaxInFlight = 64
	// DefaultBatchMaxEvents and the batch limits match dispatch's.
	DefaultBatchMaxEvents = 64
	MaxBatchMaxEvents     = 1024
	MaxBatchMaxWait       = time.Second
	DefaultScheduleTZ     = "UTC"
	DefaultScheduleWindow = 6 * time.Hour
)

// Trace modes of a source.
const (
	TraceContinue = "continue" // the sender's context is the parent (trusted senders)
	TraceLink     = "link"     // a new trace, linked to the sender's context
)

// File is the whole config file.
type File struct {
	Log           Log            `yaml:"log"`
	Sources       []Source       `yaml:"sources"`
	Subscriptions []Subscription `yaml:"subscriptions"`
	Schedules     []Schedule     `yaml:"schedules"`
	Publishers    []Publisher    `yaml:"publishers"` // access.go
}

// Log holds the event log settings; zero values take the log's defaults.
type Log struct {
	Replicas      int      `yaml:"replicas"`       // 1, 3 or 5 (external cluster)
	MaxAge        Duration `yaml:"max_age"`        // how long events stay; -1 forever
	MaxBytes      ByteSize `yaml:"max_bytes"`      // stream cap; -1 unlimited
	Sync          string   `yaml:"sync"`           // "" (interval fsync) or "always"
	DedupeHorizon Duration `yaml:"dedupe_horizon"` // how long a (source, id) stays known
}

// Source is one webhook sender, served at POST /hooks/<name>.
type Source struct {
	Name           string     `yaml:"name"`
	Kind           string     `yaml:"kind"`
	SecretsFromEnv []string   `yaml:"secrets_from_env"`
	Header         string     `yaml:"header"`    // hasura: the secret header; hmac: the signature header
	Tolerance      Duration   `yaml:"tolerance"` // timestamped schemes
	Trace          string     `yaml:"trace"`     // continue | link
	MaxBodyBytes   ByteSize   `yaml:"max_body_bytes"`
	BodyTimeout    Duration   `yaml:"body_timeout"` // from the end of the headers to the last body byte
	RateLimit      *RateLimit `yaml:"rate_limit"`

	// Generic hmac sources (webhook.HMACConfig).
	Algorithm       string `yaml:"algorithm"`
	Encoding        string `yaml:"encoding"`
	Prefix          string `yaml:"prefix"`
	TimestampHeader string `yaml:"timestamp_header"`
	SignedContent   string `yaml:"signed_content"`
	IDFrom          string `yaml:"id_from"`
	TypeFrom        string `yaml:"type_from"`
	SubjectFrom     string `yaml:"subject_from"`

	// Hasura sources: tables mapped to protobuf messages, and where those are defined.
	Tables  map[string]string `yaml:"tables"`
	Schemas *Schemas          `yaml:"schemas"`

	rows *typedrows.Converter // resolved Tables; nil without tables
}

// Schemas names the .proto files (compiled at start) or the buf image that define a
// hasura source's table messages; without it, tables name messages linked into
// hookmesh (hookmesh.demo.v1). Relative paths are from the config file's directory.
type Schemas struct {
	ProtoPaths []string `yaml:"proto_paths"`
	Files      []string `yaml:"files"`
	Image      string   `yaml:"image"`
}

// Rows is the converter of the source's mapped tables; nil when it maps none.
func (s *Source) Rows() *typedrows.Converter { return s.rows }

// RateLimit is a source's token bucket, counted after verification.
type RateLimit struct {
	RequestsPerSecond float64 `yaml:"requests_per_second"`
	Burst             int     `yaml:"burst"`
}

// Limiter returns the ratelimit config (unlimited when r is nil).
func (r *RateLimit) Limiter() ratelimit.Config {
	if r == nil {
		return ratelimit.Config{}
	}
	return ratelimit.Config{RequestsPerSecond: r.RequestsPerSecond, Burst: r.Burst}
}

// Subscription routes events to one EventConsumerService.
type Subscription struct {
	Name        string   `yaml:"name"`
	Target      string   `yaml:"target"` // builtin:<service>, host:port or dns:///name:port
	Events      []string `yaml:"events"`
	Filter      string   `yaml:"filter"`
	Retry       Retry    `yaml:"retry"`
	Timeout     Duration `yaml:"timeout"`
	MaxInFlight int      `yaml:"max_in_flight"`
	// StartFrom is where a new subscription starts reading the log: new (default),
	// all, or an RFC 3339 time (events received at or after it). It applies only
	// when the subscription's consumer is created; see ParseStartFrom.
	StartFrom string   `yaml:"start_from"`
	TLS       *TLS     `yaml:"tls"`
	Breaker   *Breaker `yaml:"breaker"`
	Batch     Batch    `yaml:"batch"`
	// TokenFromEnv names the variable whose value is sent to the target as
	// "authorization: Bearer …" (its SERVICE_TOKEN); resolved by File.Access.
	TokenFromEnv string `yaml:"token_from_env"`
}

// Retry is a subscription's retry policy: fixed (Hasura's num_retries + interval) or
// exponential backoff with full jitter and a cap.
type Retry struct {
	Policy      string   `yaml:"policy"`
	MaxAttempts int      `yaml:"max_attempts"`
	Initial     Duration `yaml:"initial"`
	Max         Duration `yaml:"max"`
	NumRetries  int      `yaml:"num_retries"`
	Interval    Duration `yaml:"interval"`
}

// TLS dials a subscription's target with TLS.
type TLS struct {
	CAFile     string `yaml:"ca_file"`
	CertFile   string `yaml:"cert_file"`
	KeyFile    string `yaml:"key_file"`
	ServerName string `yaml:"server_name"`
}

// Breaker stops calling a target that keeps failing.
type Breaker struct {
	Failures int      `yaml:"failures"`
	Cooldown Duration `yaml:"cooldown"`
}

// Batch groups a subscription's ready attempts into DeliverBatch calls.
type Batch struct {
	MaxEvents int      `yaml:"max_events"` // 1..1024; 1 is one Deliver per event
	MaxWait   Duration `yaml:"max_wait"`   // linger before a call from idle, 0..1s
}

// Schedule is a cron schedule of hookmesh's own scheduler (events cron.<name>).
type Schedule struct {
	Name      string    `yaml:"name"`
	Cron      string    `yaml:"cron"`
	Timezone  string    `yaml:"timezone"`
	Payload   JSONValue `yaml:"payload"`
	Tolerance Duration  `yaml:"tolerance"`
}

// Load reads the file at path, or the built-in demo config when path is empty.
func Load(path string) (*File, error) {
	if path == "" {
		f, err := Parse(demoYAML)
		if err != nil {
			return nil, fmt.Errorf("built-in demo config: %w", err)
		}
		return f, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	f, err := parse(data, filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return f, nil
}

// Demo returns the built-in demo config.
func Demo() (*File, error) { return Load("") }

// Parse decodes and validates a config document and fills defaults; relative paths
// in it are from the working directory.
func Parse(data []byte) (*File, error) { return parse(data, "") }

func parse(data []byte, dir string) (*File, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parse yaml: %w", err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, errors.New("the config is empty: it needs at least one source")
	}
	if doc.Content[0].Kind != yaml.MappingNode {
		return nil, &Error{Line: doc.Content[0].Line, Msg: "the config must be a mapping with log, sources, subscriptions and schedules"}
	}
	f := &File{}
	if err := yamlconfig.Decode(data, f); err != nil {
		return nil, err
	}
	v := validator{doc: &doc, dir: dir}
	f.validate(&v)
	if err := errors.Join(v.errs...); err != nil {
		return nil, err
	}
	f.setDefaults()
	return f, nil
}

type validator struct {
	doc  *yaml.Node
	dir  string // the config file's directory: relative schema paths start there
	errs []error
}

func (v *validator) add(msg string, path ...any) {
	v.errs = append(v.errs, &Error{Line: lineOf(v.doc, path...), Key: pathString(path), Msg: msg})
}

var (
	nameRE   = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	envRE    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	headerRE = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
)

func (f *File) validate(v *validator) {
	f.Log.validate(v)
	if len(f.Sources) == 0 {
		v.add("at least one source is required", "sources")
	}
	seen := map[string]bool{}
	for i := range f.Sources {
		s := &f.Sources[i]
		s.validate(v, i)
		if seen[s.Name] {
			v.add(fmt.Sprintf("duplicate source name %q", s.Name), "sources", i, "name")
		}
		seen[s.Name] = true
	}
	seen = map[string]bool{}
	for i := range f.Subscriptions {
		s := &f.Subscriptions[i]
		s.validate(v, i)
		if seen[s.Name] {
			v.add(fmt.Sprintf("duplicate subscription name %q", s.Name), "subscriptions", i, "name")
		}
		seen[s.Name] = true
	}
	seen = map[string]bool{}
	for i := range f.Schedules {
		s := &f.Schedules[i]
		s.validate(v, i)
		if seen[s.Name] {
			v.add(fmt.Sprintf("duplicate schedule name %q", s.Name), "schedules", i, "name")
		}
		seen[s.Name] = true
	}
	f.validateAccess(v)
}

func (l *Log) validate(v *validator) {
	switch l.Replicas {
	case 0, 1, 3, 5:
	default:
		v.add(fmt.Sprintf("replicas must be 1, 3 or 5, got %d", l.Replicas), "log", "replicas")
	}
	if l.MaxAge < -1 {
		v.add("max_age must be positive, or -1 to keep events forever", "log", "max_age")
	}
	if l.MaxBytes < -1 {
		v.add("max_bytes must be positive, or -1 for no limit", "log", "max_bytes")
	}
	if l.Sync != "" && l.Sync != "always" {
		v.add(fmt.Sprintf("sync must be \"always\" or unset, got %q", l.Sync), "log", "sync")
	}
	if l.DedupeHorizon < 0 {
		v.add("dedupe_horizon must be positive", "log", "dedupe_horizon")
	}
	// An id is known only while its event is kept (the log is the dedupe index), so
	// the log would refuse to open; say so here, at the key that was set.
	age, horizon := l.MaxAge.Std(), l.DedupeHorizon.Std()
	if age == 0 {
		age = eventlog.DefaultMaxAge
	}
	if horizon == 0 {
		horizon = eventlog.DefaultDedupeHorizon
	}
	if age > 0 && horizon > 0 && age < horizon {
		key := "max_age"
		if l.MaxAge == 0 {
			key = "dedupe_horizon"
		}
		v.add(fmt.Sprintf("max_age (%s) is shorter than dedupe_horizon (%s): an event's id is known only while the event is kept; "+
			"set max_age to at least dedupe_horizon, or -1", age, horizon), "log", key)
	}
}

// timestamped kinds check a timestamp and take tolerance.
var timestamped = map[string]bool{webhook.KindStripe: true, webhook.KindSlack: true, webhook.KindStandardWebhooks: true, webhook.KindHMAC: true}

func (s *Source) validate(v *validator, i int) {
	at := func(key string) []any { return []any{"sources", i, key} }
	if !nameRE.MatchString(s.Name) {
		v.add(fmt.Sprintf("name %q must be 1-64 letters, digits, '_' or '-' (it is a URL path segment)", s.Name), at("name")...)
	}
	if s.Name == "cron" || s.Name == "scheduled" {
		// The scheduler's events use these sources; sharing them would share ids.
		v.add(fmt.Sprintf("name %q is reserved for the scheduler's events", s.Name), at("name")...)
	}
	known := false
	for _, k := range webhook.Kinds {
		known = known || k == s.Kind
	}
	if !known {
		v.add(fmt.Sprintf("kind %q is not one of %s", s.Kind, strings.Join(webhook.Kinds, ", ")), at("kind")...)
	}
	if len(s.SecretsFromEnv) == 0 {
		v.add("at least one environment variable is required", at("secrets_from_env")...)
	}
	for j, name := range s.SecretsFromEnv {
		if !envRE.MatchString(name) {
			v.add(fmt.Sprintf("%q is not an environment variable name", name), "sources", i, "secrets_from_env", j)
		}
	}
	switch s.Trace {
	case "", TraceContinue, TraceLink:
	default:
		v.add(fmt.Sprintf("trace must be %s or %s, got %q", TraceContinue, TraceLink, s.Trace), at("trace")...)
	}
	if s.Tolerance != 0 && !timestamped[s.Kind] && known {
		v.add("tolerance applies only to stripe, slack, standard_webhooks and hmac sources", at("tolerance")...)
	}
	if s.Tolerance < 0 {
		v.add("tolerance must be positive", at("tolerance")...)
	}
	if s.MaxBodyBytes < 0 || s.MaxBodyBytes > MaxMaxBodyBytes {
		v.add(fmt.Sprintf("max_body_bytes must be between 1 and %d", MaxMaxBodyBytes), at("max_body_bytes")...)
	}
	if s.BodyTimeout < 0 || s.BodyTimeout.Std() > MaxBodyTimeout {
		v.add(fmt.Sprintf("body_timeout must be between 1ms and %s", MaxBodyTimeout), at("body_timeout")...)
	}
	if s.RateLimit != nil {
		if err := s.RateLimit.Limiter().Validate(); err != nil || s.RateLimit.RequestsPerSecond == 0 {
			msg := "requests_per_second must be a positive number"
			if err != nil {
				msg = err.Error()
			}
			v.add(msg, at("rate_limit")...)
		}
	}
	if s.Header != "" && !headerRE.MatchString(s.Header) {
		v.add(fmt.Sprintf("%q is not an HTTP header name", s.Header), at("header")...)
	}
	if s.Header != "" && s.Kind != webhook.KindHasura && s.Kind != webhook.KindHMAC && known {
		v.add("header applies only to hasura and hmac sources", at("header")...)
	}
	hmacKeys := map[string]string{"algorithm": s.Algorithm, "encoding": s.Encoding, "prefix": s.Prefix,
		"timestamp_header": s.TimestampHeader, "signed_content": s.SignedContent, "id_from": s.IDFrom,
		"type_from": s.TypeFrom, "subject_from": s.SubjectFrom}
	for _, key := range []string{"algorithm", "encoding", "prefix", "timestamp_header", "signed_content", "id_from", "type_from", "subject_from"} {
		if hmacKeys[key] != "" && s.Kind != webhook.KindHMAC && known {
			v.add(key+" applies only to hmac sources", at(key)...)
		}
	}
	s.validateTables(v, i, known)
	if s.Kind == webhook.KindHMAC {
		if s.Header == "" {
			v.add("an hmac source needs header (the signature header)", "sources", i)
		}
		// Everything else the hmac scheme checks (algorithm, template, extractors).
		if err := s.hmacConfig(nil).Validate(); err != nil && !errors.Is(err, webhook.ErrNoSecrets) {
			v.add(err.Error(), "sources", i)
		}
	}
}

// validateTables resolves tables: against schemas: now, so that a missing file or
// message fails the start with its key and line.
func (s *Source) validateTables(v *validator, i int, known bool) {
	if len(s.Tables) == 0 && s.Schemas == nil {
		return
	}
	if s.Kind != webhook.KindHasura && known {
		v.add("tables and schemas apply only to hasura sources", "sources", i)
		return
	}
	if len(s.Tables) == 0 {
		v.add("schemas needs tables, the tables mapped to its messages", "sources", i, "schemas")
		return
	}
	cfg := typedrows.Config{Tables: s.Tables, BaseDir: v.dir}
	if s.Schemas != nil {
		cfg.ProtoPaths, cfg.Files, cfg.Image = s.Schemas.ProtoPaths, s.Schemas.Files, s.Schemas.Image
	}
	rows, err := typedrows.New(cfg)
	var te *typedrows.Error
	switch {
	case errors.As(err, &te):
		v.add(te.Msg, append([]any{"sources", i}, te.Path...)...)
	case err != nil:
		v.add(err.Error(), "sources", i, "tables")
	default:
		s.rows = rows
	}
}

// HMACConfig is the webhook.HMACConfig of an hmac source with its secrets.
func (s *Source) HMACConfig(secrets []string) webhook.HMACConfig { return s.hmacConfig(secrets) }

func (s *Source) hmacConfig(secrets []string) webhook.HMACConfig {
	if secrets == nil {
		secrets = []string{"validation-only"}
	}
	return webhook.HMACConfig{
		Secrets: secrets, Header: s.Header, Algorithm: s.Algorithm, Encoding: s.Encoding,
		Prefix: s.Prefix, TimestampHeader: s.TimestampHeader, SignedContent: s.SignedContent,
		Tolerance: s.Tolerance.Std(), IDFrom: s.IDFrom, TypeFrom: s.TypeFrom, SubjectFrom: s.SubjectFrom,
	}
}

func (s *Subscription) validate(v *validator, i int) {
	at := func(key ...any) []any { return append([]any{"subscriptions", i}, key...) }
	if !nameRE.MatchString(s.Name) {
		v.add(fmt.Sprintf("name %q must be 1-64 letters, digits, '_' or '-'", s.Name), at("name")...)
	}
	if msg := checkTarget(s.Target); msg != "" {
		v.add(msg, at("target")...)
	}
	if len(s.Events) == 0 {
		v.add("at least one event type glob is required", at("events")...)
	}
	for j, g := range s.Events {
		if strings.TrimSpace(g) == "" || strings.ContainsAny(g, " \t\r\n") {
			v.add(fmt.Sprintf("invalid event type glob %q", g), at("events", j)...)
		}
	}
	if s.Filter != "" {
		if err := checkFilter(s.Filter); err != nil {
			v.add(err.Error(), at("filter")...)
		}
	}
	r := s.Retry
	switch r.Policy {
	case "", "exponential":
		if r.NumRetries != 0 || r.Interval != 0 {
			v.add("num_retries and interval belong to policy: fixed", at("retry")...)
		}
		if r.MaxAttempts < 0 {
			v.add("max_attempts must be at least 1", at("retry", "max_attempts")...)
		}
		if r.Initial < 0 || r.Max < 0 {
			v.add("initial and max must be positive", at("retry")...)
		}
		if r.Initial > 0 && r.Max > 0 && r.Max < r.Initial {
			v.add("max must not be below initial", at("retry", "max")...)
		}
	case "fixed":
		if r.MaxAttempts != 0 || r.Initial != 0 || r.Max != 0 {
			v.add("max_attempts, initial and max belong to policy: exponential", at("retry")...)
		}
		if r.NumRetries < 0 {
			v.add("num_retries must not be negative", at("retry", "num_retries")...)
		}
		if r.Interval < 0 {
			v.add("interval must be positive", at("retry", "interval")...)
		}
	default:
		v.add(fmt.Sprintf("policy must be exponential or fixed, got %q", r.Policy), at("retry", "policy")...)
	}
	if s.Timeout < 0 {
		v.add("timeout must be positive", at("timeout")...)
	}
	if s.MaxInFlight < 0 {
		v.add("max_in_flight must be at least 1", at("max_in_flight")...)
	}
	if _, _, err := ParseStartFrom(s.StartFrom, time.Now()); err != nil {
		v.add(err.Error(), at("start_from")...)
	}
	if s.TLS != nil && (s.TLS.CertFile == "") != (s.TLS.KeyFile == "") {
		v.add("cert_file and key_file go together", at("tls")...)
	}
	if s.Breaker != nil && (s.Breaker.Failures < 1 || s.Breaker.Cooldown <= 0) {
		v.add("breaker needs failures >= 1 and a positive cooldown", at("breaker")...)
	}
	if s.Batch.MaxEvents < 0 || s.Batch.MaxEvents > MaxBatchMaxEvents {
		v.add(fmt.Sprintf("max_events must be between 1 and %d", MaxBatchMaxEvents), at("batch", "max_events")...)
	}
	if s.Batch.MaxWait < 0 || s.Batch.MaxWait.Std() > MaxBatchMaxWait {
		v.add(fmt.Sprintf("max_wait must be between 0 and %s", MaxBatchMaxWait), at("batch", "max_wait")...)
	}
}

func checkTarget(t string) string {
	switch {
	case t == "":
		return "target is required (builtin:<service>, host:port or dns:///name:port)"
	case strings.HasPrefix(t, "builtin:"):
		if !nameRE.MatchString(strings.TrimPrefix(t, "builtin:")) {
			return fmt.Sprintf("target %q: builtin: needs a service name", t)
		}
	case strings.HasPrefix(t, "dns:///"):
		if !hasPort(strings.TrimPrefix(t, "dns:///")) {
			return fmt.Sprintf("target %q: dns:/// needs name:port", t)
		}
	case strings.Contains(t, "://"):
		return fmt.Sprintf("target %q: only builtin:, dns:/// and host:port are supported", t)
	default:
		if !hasPort(t) {
			return fmt.Sprintf("target %q is not host:port", t)
		}
	}
	return ""
}

func hasPort(hp string) bool {
	i := strings.LastIndexByte(hp, ':')
	if i <= 0 || i == len(hp)-1 {
		return false
	}
	for _, c := range hp[i+1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// checkFilter compiles the CEL expression over `event` the way the dispatcher does,
// so a syntax error is reported with its line at start.
func checkFilter(src string) error {
	env, err := cel.NewEnv(cel.Variable("event", cel.MapType(cel.StringType, cel.DynType)))
	if err != nil {
		return fmt.Errorf("filter environment: %w", err)
	}
	ast, iss := env.Compile(src)
	if iss.Err() != nil {
		return fmt.Errorf("invalid CEL filter: %w", iss.Err())
	}
	if t := ast.OutputType(); t != cel.BoolType && t != cel.DynType {
		return fmt.Errorf("filter evaluates to %s, want bool", t)
	}
	return nil
}

func (s *Schedule) validate(v *validator, i int) {
	at := func(key string) []any { return []any{"schedules", i, key} }
	if !nameRE.MatchString(s.Name) {
		v.add(fmt.Sprintf("name %q must be 1-64 letters, digits, '_' or '-'", s.Name), at("name")...)
	}
	if _, err := cron.Parse(s.Cron); err != nil {
		v.add(err.Error(), at("cron")...)
	}
	if s.Timezone != "" {
		if _, err := time.LoadLocation(s.Timezone); err != nil {
			v.add(fmt.Sprintf("unknown timezone %q", s.Timezone), at("timezone")...)
		}
	}
	if s.Tolerance < 0 {
		v.add("tolerance must be positive", at("tolerance")...)
	}
}

func (f *File) setDefaults() {
	for i := range f.Sources {
		s := &f.Sources[i]
		if s.Trace == "" {
			s.Trace = TraceLink
			if s.Kind == webhook.KindHasura {
				s.Trace = TraceContinue
			}
		}
		if s.MaxBodyBytes == 0 {
			s.MaxBodyBytes = DefaultMaxBodyBytes
		}
		if s.BodyTimeout == 0 {
			s.BodyTimeout = Duration(DefaultBodyTimeout)
		}
		if s.Kind == webhook.KindHasura && s.Header == "" {
			s.Header = "X-Hasura-Webhook-Secret"
		}
		if s.Tolerance == 0 && timestamped[s.Kind] {
			s.Tolerance = Duration(webhook.DefaultTolerance)
		}
	}
	for i := range f.Subscriptions {
		s := &f.Subscriptions[i]
		if s.Timeout == 0 {
			s.Timeout = Duration(DefaultTimeout)
		}
		if s.MaxInFlight == 0 {
			s.MaxInFlight = DefaultMaxInFlight
		}
		if s.Batch.MaxEvents == 0 {
			s.Batch.MaxEvents = DefaultBatchMaxEvents
		}
		r := &s.Retry
		switch r.Policy {
		case "", "exponential":
			r.Policy = "exponential"
			if r.MaxAttempts == 0 {
				r.MaxAttempts = 8
			}
			if r.Initial == 0 {
				r.Initial = Duration(time.Second)
			}
			if r.Max == 0 {
				r.Max = Duration(10 * time.Minute)
			}
		case "fixed":
			if r.Interval == 0 {
				r.Interval = Duration(10 * time.Second)
			}
		}
	}
	for i := range f.Schedules {
		s := &f.Schedules[i]
		if s.Timezone == "" {
			s.Timezone = DefaultScheduleTZ
		}
		if s.Tolerance == 0 {
			s.Tolerance = Duration(DefaultScheduleWindow)
		}
	}
}

// MaxBodyBytes is the largest max_body_bytes of any source (what the log must hold).
func (f *File) MaxBodyBytes() int {
	m := 0
	for _, s := range f.Sources {
		m = max(m, int(s.MaxBodyBytes))
	}
	return m
}

// Source returns the source named name.
func (f *File) Source(name string) (*Source, bool) {
	for i := range f.Sources {
		if f.Sources[i].Name == name {
			return &f.Sources[i], true
		}
	}
	return nil, false
}

// Start positions of a new subscription (start_from).
const (
	StartFromNew = "new"
	StartFromAll = "all"
)

// ParseStartFrom reads a start_from value: "" or new (all false, zero time), all
// (all true) or an RFC 3339 time not after now.
func ParseStartFrom(v string, now time.Time) (all bool, from time.Time, err error) {
	switch v {
	case "", StartFromNew:
		return false, time.Time{}, nil
	case StartFromAll:
		return true, time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return false, time.Time{}, fmt.Errorf("start_from %q is not new, all or an RFC 3339 time", v)
	}
	if t.After(now) {
		return false, time.Time{}, fmt.Errorf("start_from %q is in the future", v)
	}
	return false, t, nil
}
