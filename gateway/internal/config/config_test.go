package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const minimal = `sources:
  - name: hasura
    kind: hasura
    secrets_from_env: [HASURA_WEBHOOK_SECRET]
`

func TestDemo(t *testing.T) {
	f, err := Demo()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]string{}
	for _, s := range f.Sources {
		names[s.Name] = s.Kind
	}
	for name, kind := range map[string]string{"hasura": "hasura", "stripe": "stripe", "github": "github",
		"shopify": "shopify", "slack": "slack", "standard": "standard_webhooks"} {
		if names[name] != kind {
			t.Errorf("demo source %s: kind %q, want %q", name, names[name], kind)
		}
	}
	h, _ := f.Source("hasura")
	if h.Trace != TraceContinue || h.Header != "X-Hasura-Webhook-Secret" || h.MaxBodyBytes != 1<<20 || h.BodyTimeout.Std() != DefaultBodyTimeout {
		t.Errorf("hasura source %+v", h)
	}
	if s, _ := f.Source("stripe"); s.Trace != TraceLink || s.Tolerance.Std() != 5*time.Minute {
		t.Errorf("stripe source %+v", s)
	}
	// Every demo route of DESIGN.md reaches its subscription.
	routes := map[string][]string{
		"hasura.public.users.insert":           {"email", "analytics"},
		"hasura.public.orders.update":          {"orders", "analytics"},
		"hasura.public.inventory.insert":       {"orders"},
		"orders.shipment.created":              {"email"},
		"orders.stock.insufficient":            {"email"},
		"stripe.payment_intent.succeeded":      {"orders", "analytics"},
		"stripe.customer.subscription.deleted": {"orders", "analytics"},
		"github.pull_request.opened":           {"analytics"},
		"cron.daily-report":                    {"email"},
		"hasura.cron.weekly-report":            {"email"},
		"cron.billing":                         {"orders"},
		"hasura.cron.billing":                  {"orders"},
		"cron.cleanup":                         {"analytics"},
		"cron.health-check":                    {"gateway-health"},
		"stripe.payment_intent.payment_failed": {"orders", "analytics"},
		"stripe.customer.subscription.created": {"orders", "analytics"},
		"hasura.public.users.update":           {"email", "analytics"},
		"hasura.cron.cleanup":                  {"analytics"},
		"hasura.cron.daily-report":             {"email"},
		"cron.weekly-report":                   {"email"},
		"hasura.cron.health-check":             {"gateway-health"},
		"hasura.public.orders.insert":          {"orders", "analytics"},
		"hasura.public.inventory.update":       {"orders"},
		"github.push":                          {"analytics"},
		"stripe.checkout.session.completed":    nil,
		"shopify.orders.create":                nil,
	}
	for typ, want := range routes {
		var got []string
		for _, s := range f.Subscriptions {
			for _, g := range s.Events {
				if globMatch(g, typ) {
					got = append(got, s.Name)
					break
				}
			}
		}
		if strings.Join(sorted(got), ",") != strings.Join(sorted(want), ",") {
			t.Errorf("%s goes to %v, want %v", typ, got, want)
		}
	}
	sched := map[string]string{}
	for _, s := range f.Schedules {
		sched[s.Name] = s.Cron
	}
	for name, cron := range map[string]string{"daily-report": "0 9 * * *", "weekly-report": "0 9 * * 1",
		"billing": "0 0 1 * *", "health-check": "0 * * * *", "cleanup": "0 2 * * *"} {
		if sched[name] != cron {
			t.Errorf("schedule %s = %q, want %q", name, sched[name], cron)
		}
	}
	if got := f.Schedules[0].Payload.GetStructValue().GetFields()["report_type"].GetStringValue(); got != "daily_summary" {
		t.Errorf("daily-report payload %v", f.Schedules[0].Payload)
	}
	if f.Log.DedupeHorizon.Std() != 96*time.Hour || f.Log.MaxAge.Std() != 7*24*time.Hour {
		t.Errorf("log %+v", f.Log)
	}
}

// globMatch: '*' matches any run of characters, dots included (DESIGN.md).
func globMatch(pattern, s string) bool {
	if !strings.Contains(pattern, "*") {
		return pattern == s
	}
	parts := strings.Split(pattern, "*")
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return strings.HasSuffix(s, parts[len(parts)-1])
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func TestParseFull(t *testing.T) {
	f, err := Parse([]byte(`log:
  replicas: 3
  max_age: 120h
  max_bytes: 2GiB
  sync: always
  dedupe_horizon: 4d
sources:
  - name: orders-hmac
    kind: hmac
    header: X-Signature
    prefix: "sha256="
    timestamp_header: X-Timestamp
    id_from: header:X-Delivery-Id
    secrets_from_env: [A_SECRET, A_SECRET_PREVIOUS]
    max_body_bytes: 262144
    body_timeout: 45s
    rate_limit: {requests_per_second: 50, burst: 100}
    trace: continue
subscriptions:
  - name: legacy
    target: dns:///legacy.internal:9000
    events: ["webhook.orders-hmac.*"]
    retry: {policy: fixed, num_retries: 3, interval: 10s}
    tls: {ca_file: /etc/ca.pem}
    breaker: {failures: 5, cooldown: 30s}
    batch: {max_events: 256, max_wait: 2ms}
  - name: plain
    target: builtin:email
    events: [a]
schedules:
  - name: nightly
    cron: "30 1 * * MON-FRI"
    timezone: Europe/Berlin
    payload: {n: 1, ok: true, list: [a, 2.5, null]}
`))
	if err != nil {
		t.Fatal(err)
	}
	s := f.Sources[0]
	if s.MaxBodyBytes != 262144 || s.RateLimit.Burst != 100 || s.RateLimit.RequestsPerSecond != 50 || s.Trace != TraceContinue ||
		s.Tolerance.Std() != 5*time.Minute || s.IDFrom != "header:X-Delivery-Id" || s.BodyTimeout.Std() != 45*time.Second {
		t.Errorf("source %+v", s)
	}
	if f.Log.Replicas != 3 || f.Log.MaxBytes != 2<<30 || f.Log.Sync != "always" || f.Log.DedupeHorizon.Std() != 96*time.Hour {
		t.Errorf("log %+v", f.Log)
	}
	sub := f.Subscriptions[0]
	if sub.Retry.Interval.Std() != 10*time.Second || sub.Retry.NumRetries != 3 || sub.Timeout.Std() != DefaultTimeout ||
		sub.MaxInFlight != DefaultMaxInFlight || sub.Breaker.Cooldown.Std() != 30*time.Second ||
		sub.Batch.MaxEvents != 256 || sub.Batch.MaxWait.Std() != 2*time.Millisecond {
		t.Errorf("subscription %+v", sub)
	}
	if b := f.Subscriptions[1].Batch; b.MaxEvents != DefaultBatchMaxEvents || b.MaxWait != 0 {
		t.Errorf("default batch %+v", b)
	}
	p := f.Schedules[0].Payload.GetStructValue().GetFields()
	if p["n"].GetNumberValue() != 1 || !p["ok"].GetBoolValue() || len(p["list"].GetListValue().GetValues()) != 3 {
		t.Errorf("payload %v", p)
	}
	if f.Schedules[0].Tolerance.Std() != DefaultScheduleWindow {
		t.Errorf("schedule tolerance %v", f.Schedules[0].Tolerance)
	}
}

func TestParseDefaults(t *testing.T) {
	f, err := Parse([]byte(minimal + `  - name: gh
    kind: github
    secrets_from_env: [GH]
subscriptions:
  - name: s
    target: 127.0.0.1:9000
    events: ["*"]
`))
	if err != nil {
		t.Fatal(err)
	}
	if f.Sources[0].Trace != TraceContinue || f.Sources[1].Trace != TraceLink {
		t.Errorf("trace defaults: %q %q", f.Sources[0].Trace, f.Sources[1].Trace)
	}
	if f.Sources[1].Tolerance != 0 {
		t.Errorf("github got a tolerance")
	}
	r := f.Subscriptions[0].Retry
	if r.Policy != "exponential" || r.MaxAttempts != 8 || r.Initial.Std() != time.Second || r.Max.Std() != 10*time.Minute {
		t.Errorf("retry defaults %+v", r)
	}
	if f.MaxBodyBytes() != DefaultMaxBodyBytes {
		t.Errorf("MaxBodyBytes %d", f.MaxBodyBytes())
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, yaml string
		line       int
		want       string
	}{
		{"empty", ``, 0, "empty"},
		{"not a mapping", `[1, 2]`, 1, "must be a mapping"},
		{"yaml syntax", "sources: [\n", 0, "parse yaml"},
		{"unknown top-level key", minimal + "subscription: []\n", 5, `unknown key "subscription"`},
		{"unknown source key", minimal + "    secret: x\n", 5, `unknown key "secret" in sources[0]`},
		{"unknown rate_limit key", minimal + "    rate_limit: {rps: 5}\n", 5, `unknown key "rps" in sources[0].rate_limit`},
		{"unknown log key", "log:\n  replica: 3\n" + minimal, 2, `unknown key "replica" in log`},
		{"no sources", "subscriptions: []\n", 1, "at least one source"},
		{"duplicate key", minimal + "    kind: stripe\n", 5, "kind"},
		{"second document", minimal + "---\nsources: []\n", 0, "one YAML document"},
		{"bad kind", strings.Replace(minimal, "kind: hasura", "kind: strpe", 1), 3, `sources[0].kind: kind "strpe" is not one of`},
		{"bad name", strings.Replace(minimal, "name: hasura", "name: has/ura", 1), 2, "sources[0].name"},
		{"duplicate source", minimal + strings.Replace(minimal, "sources:\n", "", 1), 5, "duplicate source name"},
		{"no secrets", strings.Replace(minimal, "[HASURA_WEBHOOK_SECRET]", "[]", 1), 4, "secrets_from_env: at least one"},
		{"bad env name", strings.Replace(minimal, "HASURA_WEBHOOK_SECRET", "1BAD", 1), 4, "sources[0].secrets_from_env[0]"},
		{"bad trace", minimal + "    trace: follow\n", 5, "trace must be continue or link"},
		{"bad tolerance", minimal + "    tolerance: soon\n", 5, `invalid duration "soon"`},
		{"tolerance on hasura", minimal + "    tolerance: 5m\n", 5, "tolerance applies only"},
		{"bad max_body_bytes", minimal + "    max_body_bytes: lots\n", 5, `invalid size "lots"`},
		{"max_body_bytes too large", minimal + "    max_body_bytes: 1GiB\n", 5, "max_body_bytes must be between"},
		{"body_timeout too long", minimal + "    body_timeout: 1h\n", 5, "body_timeout must be between"},
		{"negative body_timeout", minimal + "    body_timeout: -1s\n", 5, "body_timeout must be between"},
		{"negative rate", minimal + "    rate_limit: {requests_per_second: -1}\n", 5, "rate_limit"},
		{"burst without rate", minimal + "    rate_limit: {burst: 3}\n", 5, "rate_limit"},
		{"rate not a number", minimal + "    rate_limit: {requests_per_second: fast}\n", 5, `"sources[0].rate_limit.requests_per_second": cannot unmarshal !!str`},
		{"header on github", "sources:\n  - name: g\n    kind: github\n    header: X-A\n    secrets_from_env: [G]\n", 4, "header applies only"},
		{"hmac key on stripe", "sources:\n  - name: s\n    kind: stripe\n    id_from: header:X\n    secrets_from_env: [S]\n", 4, "id_from applies only to hmac"},
		{"hmac without header", "sources:\n  - name: h\n    kind: hmac\n    secrets_from_env: [H]\n", 2, "needs header"},
		{"hmac bad algorithm", "sources:\n  - name: h\n    kind: hmac\n    header: X-Sig\n    algorithm: md5\n    secrets_from_env: [H]\n", 2, "md5"},
		{"list for a string", strings.Replace(minimal, "kind: hasura", "kind: [hasura]", 1), 3, `"sources[0].kind": expected a scalar, got a list`},
		{"bad log replicas", "log: {replicas: 2}\n" + minimal, 1, "replicas must be 1, 3 or 5"},
		{"bad log sync", "log: {sync: sometimes}\n" + minimal, 1, `sync must be "always"`},
		{"bad log max_bytes", "log: {max_bytes: 1XB}\n" + minimal, 1, "invalid size"},
		{"max_age below the dedupe horizon", "log:\n  max_age: 72h\n" + minimal, 2, "log.max_age: max_age (72h0m0s) is shorter than dedupe_horizon (96h0m0s)"},
		{"dedupe horizon beyond the default max_age", "log:\n  replicas: 1\n  dedupe_horizon: 8d\n" + minimal, 3, "log.dedupe_horizon: max_age (168h0m0s) is shorter"},
		{"subscription without target", minimal + "subscriptions:\n  - name: s\n    events: [a]\n", 6, "target is required"},
		{"subscription bad target", minimal + "subscriptions:\n  - name: s\n    target: http://x:1\n    events: [a]\n", 7, "only builtin:, dns:/// and host:port"},
		{"subscription target without port", minimal + "subscriptions:\n  - name: s\n    target: localhost\n    events: [a]\n", 7, "not host:port"},
		{"subscription without events", minimal + "subscriptions:\n  - name: s\n    target: builtin:email\n", 6, "at least one event type glob"},
		{"subscription bad glob", minimal + "subscriptions:\n  - name: s\n    target: builtin:email\n    events: [\"a b\"]\n", 8, "subscriptions[0].events[0]"},
		{"subscription bad filter", minimal + "subscriptions:\n  - name: s\n    target: builtin:email\n    events: [a]\n    filter: 'event.type =='\n", 9, "invalid CEL filter"},
		{"subscription non-bool filter", minimal + "subscriptions:\n  - name: s\n    target: builtin:email\n    events: [a]\n    filter: '1 + 2'\n", 9, "want bool"},
		{"unknown retry policy", minimal + "subscriptions:\n  - name: s\n    target: builtin:email\n    events: [a]\n    retry: {policy: linear}\n", 9, "policy must be exponential or fixed"},
		{"mixed retry keys", minimal + "subscriptions:\n  - name: s\n    target: builtin:email\n    events: [a]\n    retry: {policy: fixed, max_attempts: 3}\n", 9, "belong to policy: exponential"},
		{"max below initial", minimal + "subscriptions:\n  - name: s\n    target: builtin:email\n    events: [a]\n    retry: {initial: 1m, max: 1s}\n", 9, "max must not be below initial"},
		{"unknown retry key", minimal + "subscriptions:\n  - name: s\n    target: builtin:email\n    events: [a]\n    retry: {attempts: 3}\n", 9, `unknown key "attempts" in subscriptions[0].retry`},
		{"bad timeout", minimal + "subscriptions:\n  - name: s\n    target: builtin:email\n    events: [a]\n    timeout: 30\n", 9, `invalid duration "30"`},
		{"bad max_in_flight", minimal + "subscriptions:\n  - name: s\n    target: builtin:email\n    events: [a]\n    max_in_flight: many\n", 9, `"subscriptions[0].max_in_flight": cannot unmarshal !!str`},
		{"start_from garbage", minimal + "subscriptions:\n  - name: s\n    target: builtin:email\n    events: [a]\n    start_from: yesterday\n", 9, `subscriptions[0].start_from: start_from "yesterday" is not new, all or an RFC 3339 time`},
		{"start_from in the future", minimal + "subscriptions:\n  - name: s\n    target: builtin:email\n    events: [a]\n    start_from: \"2999-01-01T00:00:00Z\"\n", 9, `start_from "2999-01-01T00:00:00Z" is in the future`},
		{"start_from date only", minimal + "subscriptions:\n  - name: s\n    target: builtin:email\n    events: [a]\n    start_from: 2024-01-01\n", 9, "not new, all or an RFC 3339 time"},
		{"batch max_events too large", minimal + "subscriptions:\n  - name: s\n    target: builtin:email\n    events: [a]\n    batch:\n      max_events: 2000\n", 10, "subscriptions[0].batch.max_events: max_events must be between 1 and 1024"},
		{"batch negative max_events", minimal + "subscriptions:\n  - name: s\n    target: builtin:email\n    events: [a]\n    batch: {max_events: -1}\n", 9, "max_events must be between"},
		{"batch max_wait too long", minimal + "subscriptions:\n  - name: s\n    target: builtin:email\n    events: [a]\n    batch:\n      max_events: 8\n      max_wait: 2s\n", 11, "subscriptions[0].batch.max_wait: max_wait must be between 0 and 1s"},
		{"batch bad max_wait", minimal + "subscriptions:\n  - name: s\n    target: builtin:email\n    events: [a]\n    batch: {max_wait: soon}\n", 9, `invalid duration "soon"`},
		{"batch unknown key", minimal + "subscriptions:\n  - name: s\n    target: builtin:email\n    events: [a]\n    batch: {size: 3}\n", 9, `unknown key "size" in subscriptions[0].batch`},
		{"duplicate subscription", minimal + "subscriptions:\n  - {name: s, target: builtin:a, events: [a]}\n  - {name: s, target: builtin:a, events: [a]}\n", 7, "duplicate subscription"},
		{"bad breaker", minimal + "subscriptions:\n  - {name: s, target: builtin:a, events: [a], breaker: {failures: 0}}\n", 6, "breaker needs"},
		{"schedule bad cron", minimal + "schedules:\n  - name: c\n    cron: \"61 * * * *\"\n", 7, "minute field"},
		{"schedule cron fields", minimal + "schedules:\n  - name: c\n    cron: \"* * *\"\n", 7, "want 5"},
		{"schedule bad timezone", minimal + "schedules:\n  - name: c\n    cron: \"0 * * * *\"\n    timezone: Mars/Olympus\n", 8, "unknown timezone"},
		{"schedule unknown key", minimal + "schedules:\n  - name: c\n    cron: \"0 * * * *\"\n    every: 1h\n", 8, `unknown key "every" in schedules[0]`},
		{"schedule payload bad key", minimal + "schedules:\n  - name: c\n    cron: \"0 * * * *\"\n    payload: {[1]: x}\n", 8, "keys must be strings"},
		{"duplicate schedule", minimal + "schedules:\n  - {name: c, cron: \"0 * * * *\"}\n  - {name: c, cron: \"0 * * * *\"}\n", 7, "duplicate schedule"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			if tc.line > 0 {
				var ce *Error
				if errors.As(err, &ce) {
					if ce.Line != tc.line {
						t.Errorf("error %q: want line %d", err, tc.line)
					}
				} else if !strings.Contains(err.Error(), fmt.Sprintf("line %d:", tc.line)) {
					t.Errorf("error %q: want line %d", err, tc.line)
				}
			}
		})
	}
}

func TestScheduleCron(t *testing.T) {
	doc := func(expr string) string {
		return "sources:\n  - {name: h, kind: hasura, header: X-S, secrets_from_env: [S]}\nschedules:\n  - name: tick\n    cron: \"" + expr + "\"\n"
	}
	for _, ok := range []string{"* * * * *", "0 9 * * 1", "*/15 0-6,22-23 1,15 JAN-MAR sun", "0 0 1 * 7", "@daily", "@hourly"} {
		if _, err := Parse([]byte(doc(ok))); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "* * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *", "* * * * 8",
		"*/0 * * * *", "9-3 * * * *", "a * * * *", "* * * * * *", "0 0 30 2 *", "@sometimes"} {
		_, err := Parse([]byte(doc(bad)))
		if err == nil || !strings.Contains(err.Error(), "line 5") {
			t.Errorf("%q: got %v, want an error at line 5", bad, err)
		}
	}
}

func TestReservedSourceNames(t *testing.T) {
	for _, name := range []string{"cron", "scheduled"} {
		_, err := Parse([]byte("sources:\n  - name: " + name + "\n    kind: hasura\n    header: X-S\n    secrets_from_env: [S]\n"))
		if err == nil || !strings.Contains(err.Error(), "reserved") {
			t.Errorf("source %q: got %v", name, err)
		}
	}
}

func TestSecrets(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "secret")
	if err := os.WriteFile(file, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		env     map[string]string
		want    []string
		wantErr string
	}{
		{"env", map[string]string{"HM_T_A": "a"}, []string{"a"}, ""},
		{"rotation keeps order", map[string]string{"HM_T_A": "a", "HM_T_B": "b"}, []string{"a", "b"}, ""},
		{"only previous", map[string]string{"HM_T_B": "b"}, []string{"b"}, ""},
		{"file", map[string]string{"HM_T_A_FILE": file}, []string{"from-file"}, ""},
		{"none", map[string]string{}, nil, "no secret set"},
		{"both forms", map[string]string{"HM_T_A": "a", "HM_T_A_FILE": file}, nil, "HM_T_A and HM_T_A_FILE are both set"},
		{"missing file", map[string]string{"HM_T_A_FILE": filepath.Join(dir, "nope")}, nil, "env HM_T_A_FILE: read secret file"},
		{"empty file", map[string]string{"HM_T_A_FILE": empty}, nil, "is empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"HM_T_A", "HM_T_B", "HM_T_A_FILE", "HM_T_B_FILE"} {
				t.Setenv(k, tc.env[k])
			}
			src := Source{Name: "s", SecretsFromEnv: []string{"HM_T_A", "HM_T_B"}}
			got, err := src.Secrets(nil)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "from-file") {
					t.Error("secret value in error")
				}
				return
			}
			if err != nil || strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "hookmesh.yaml")
	if err := os.WriteFile(p, []byte(minimal+"    bogus: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(p)
	if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "line 5") {
		t.Fatalf("Load error %v should name the file and line", err)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Fatal("missing file accepted")
	}
	if f, err := Load(""); err != nil || len(f.Sources) != 6 {
		t.Fatalf("Load(\"\") = %v, %v", f, err)
	}
}

func TestMaxAgeCoversDedupeHorizon(t *testing.T) {
	for _, log := range []string{
		"log: {max_age: 96h}\n",                     // exactly the default horizon
		"log: {max_age: -1, dedupe_horizon: 30d}\n", // kept forever
		"log: {max_age: 30d, dedupe_horizon: 30d}\n",
	} {
		if _, err := Parse([]byte(log + minimal)); err != nil {
			t.Errorf("%q refused: %v", log, err)
		}
	}
}

func TestStartFrom(t *testing.T) {
	for _, v := range []string{"", "new", "all", "2024-05-01T10:00:00Z", "2024-05-01T12:00:00.5+02:00"} {
		doc := minimal + "subscriptions:\n  - name: s\n    target: builtin:email\n    events: [a]\n"
		if v != "" {
			doc += "    start_from: \"" + v + "\"\n"
		}
		f, err := Parse([]byte(doc))
		if err != nil {
			t.Fatalf("%q: %v", v, err)
		}
		if got := f.Subscriptions[0].StartFrom; got != v {
			t.Errorf("%q: StartFrom = %q", v, got)
		}
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	all, from, err := ParseStartFrom("2026-01-02T03:04:05Z", now)
	if err != nil || all || !from.Equal(now) {
		t.Errorf("now itself: %v %v %v", all, from, err)
	}
	if all, from, err := ParseStartFrom("all", now); err != nil || !all || !from.IsZero() {
		t.Errorf("all: %v %v %v", all, from, err)
	}
	if _, _, err := ParseStartFrom("2026-01-02T03:04:06Z", now); err == nil {
		t.Error("a second in the future accepted")
	}
}
