package yamlconfig_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/hookmesh/hookmesh/platform/yamlconfig"
)

type file struct {
	Sources       []source       `yaml:"sources"`
	Subscriptions []subscription `yaml:"subscriptions"`
	Schedules     []schedule     `yaml:"schedules"`
}

type source struct {
	Name           string        `yaml:"name"`
	Kind           kind          `yaml:"kind"`
	SecretsFromEnv []string      `yaml:"secrets_from_env"`
	Tolerance      time.Duration `yaml:"tolerance"`
	Header         string        `yaml:"header"`
}

// kind decodes itself and rejects unknown kinds.
type kind string

func (k *kind) UnmarshalYAML(n *yaml.Node) error {
	switch n.Value {
	case "hasura", "stripe", "github":
		*k = kind(n.Value)
		return nil
	}
	return fmt.Errorf("unknown source kind %q", n.Value)
}

type subscription struct {
	Name        string        `yaml:"name"`
	Target      string        `yaml:"target"`
	Events      []string      `yaml:"events"`
	Filter      string        `yaml:"filter"`
	Retry       *retry        `yaml:"retry"`
	Timeout     time.Duration `yaml:"timeout"`
	MaxInFlight int           `yaml:"max_in_flight"`
}

type retry struct {
	Policy      string        `yaml:"policy"`
	MaxAttempts int           `yaml:"max_attempts"`
	Initial     time.Duration `yaml:"initial"`
	Max         time.Duration `yaml:"max"`
	NumRetries  int           `yaml:"num_retries"`
	Interval    time.Duration `yaml:"interval"`
}

func (r retry) Validate() error {
	if r.Policy != "exponential" && r.Policy != "fixed" {
		return fmt.Errorf("retry.policy %q must be exponential or fixed", r.Policy)
	}
	return nil
}

type schedule struct {
	Name    string         `yaml:"name"`
	Cron    string         `yaml:"cron"`
	Payload map[string]any `yaml:"payload"`
	common  `yaml:",inline"`
}

type common struct {
	Timezone  string        `yaml:"timezone"`
	Tolerance time.Duration `yaml:"tolerance"`
}

const valid = `sources:
  - name: stripe
    kind: stripe
    secrets_from_env: [STRIPE_WEBHOOK_SECRET, STRIPE_WEBHOOK_SECRET_PREVIOUS]
    tolerance: 5m
subscriptions:
  - name: orders
    target: builtin:orders
    events: ["hasura.public.orders.*", "stripe.*"]
    filter: 'true'
    retry: &backoff {policy: exponential, max_attempts: 8, initial: 1s, max: 10m}
    timeout: 30s
    max_in_flight: 64
  - name: email
    target: builtin:email
    events: ["hasura.public.users.*"]
    retry:
      <<: *backoff
      max_attempts: 3
schedules:
  - name: daily-report
    cron: "0 9 * * *"
    timezone: UTC
    payload: {report_type: daily_summary}
    tolerance: 6h
`

func TestDecodeValid(t *testing.T) {
	var f file
	if err := yamlconfig.Decode([]byte(valid), &f); err != nil {
		t.Fatalf("Decode: %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"source kind", f.Sources[0].Kind, kind("stripe")},
		{"secrets", strings.Join(f.Sources[0].SecretsFromEnv, ","), "STRIPE_WEBHOOK_SECRET,STRIPE_WEBHOOK_SECRET_PREVIOUS"},
		{"tolerance", f.Sources[0].Tolerance, 5 * time.Minute},
		{"events", len(f.Subscriptions[0].Events), 2},
		{"retry max", f.Subscriptions[0].Retry.Max, 10 * time.Minute},
		{"timeout", f.Subscriptions[0].Timeout, 30 * time.Second},
		{"max in flight", f.Subscriptions[0].MaxInFlight, 64},
		{"merged policy", f.Subscriptions[1].Retry.Policy, "exponential"},
		{"merge override", f.Subscriptions[1].Retry.MaxAttempts, 3},
		{"merged initial", f.Subscriptions[1].Retry.Initial, time.Second},
		{"inline timezone", f.Schedules[0].Timezone, "UTC"},
		{"inline tolerance", f.Schedules[0].Tolerance, 6 * time.Hour},
		{"payload", f.Schedules[0].Payload["report_type"], "daily_summary"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestDecodeKeepsDefaults(t *testing.T) {
	type cfg struct {
		A string `yaml:"a"`
		B int    `yaml:"b"`
		C *int   `yaml:"c"`
	}
	seven := 7
	tests := []struct {
		name string
		doc  string
		want cfg
	}{
		{"empty document", "", cfg{A: "x", B: 2, C: &seven}},
		{"comment only", "# nothing\n", cfg{A: "x", B: 2, C: &seven}},
		{"one key", "b: 5\n", cfg{A: "x", B: 5, C: &seven}},
		{"null clears", "a: ~\nc: null\n", cfg{B: 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c0 := seven
			got := cfg{A: "x", B: 2, C: &c0}
			if err := yamlconfig.Decode([]byte(tc.doc), &got); err != nil {
				t.Fatal(err)
			}
			if got.A != tc.want.A || got.B != tc.want.B || (got.C == nil) != (tc.want.C == nil) || (got.C != nil && *got.C != *tc.want.C) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	replace := func(old, new string) string {
		if !strings.Contains(valid, old) {
			panic("fixture lacks " + old)
		}
		return strings.Replace(valid, old, new, 1)
	}
	tests := []struct {
		name string
		doc  string
		want string // exact error
	}{
		{"unknown key in list item", replace("    timeout: 30s\n", "    retyr: 3\n"),
			`config line 12: unknown key "retyr" in subscriptions[0]`},
		{"unknown top-level key", "sources: []\nsubscribers: []\n",
			`config line 2: unknown key "subscribers"`},
		{"unknown nested key", replace("max_attempts: 8,", "max_attempt: 8,"),
			`config line 11: unknown key "max_attempt" in subscriptions[0].retry`},
		{"invalid duration", replace("timeout: 30s", "timeout: soon"),
			"config line 12: invalid value for \"subscriptions[0].timeout\": cannot unmarshal !!str `soon` into time.Duration"},
		{"invalid int", replace("max_in_flight: 64", "max_in_flight: lots"),
			"config line 13: invalid value for \"subscriptions[0].max_in_flight\": cannot unmarshal !!str `lots` into int"},
		{"scalar for list", replace(`events: ["hasura.public.orders.*", "stripe.*"]`, `events: stripe.*`),
			`config line 9: invalid value for "subscriptions[0].events": expected a list, got a scalar`},
		{"list for scalar", replace("    target: builtin:orders\n", "    target: [a]\n"),
			`config line 8: invalid value for "subscriptions[0].target": expected a scalar, got a list`},
		{"scalar for struct", "subscriptions:\n  - name: a\n    retry: 3\n",
			`config line 3: invalid value for "subscriptions[0].retry": expected a mapping, got a scalar`},
		{"duplicate key", replace("    timeout: 30s\n", "    timeout: 30s\n    timeout: 1s\n"),
			`config line 13: duplicate key "timeout" in subscriptions[0] (first at line 12)`},
		{"validate", replace("policy: exponential, max_attempts: 8", "policy: sometimes, max_attempts: 8"),
			`config line 11: subscriptions[0].retry: retry.policy "sometimes" must be exponential or fixed`},
		{"unmarshaler", replace("    kind: stripe\n", "    kind: paypal\n"),
			`config line 3: invalid value for "sources[0].kind": unknown source kind "paypal"`},
		{"syntax", "sources: []\nschedules: a: b\n",
			`config line 2: mapping values are not allowed in this context`},
		{"two documents", "sources: []\n---\nschedules: []\n",
			`config line 2: only one YAML document is allowed`},
		{"top-level list", "- a\n", `config line 1: invalid value for "": expected a mapping, got a list`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var f file
			err := yamlconfig.Decode([]byte(tc.doc), &f)
			if err == nil {
				t.Fatalf("Decode = nil, want %q", tc.want)
			}
			if err.Error() != tc.want {
				t.Errorf("Decode error\n got: %s\nwant: %s", err, tc.want)
			}
		})
	}
}

type validated struct {
	N int `yaml:"n"`
}

var errTooBig = errors.New("n is too big")

func (v *validated) Validate() error {
	if v.N > 10 {
		return errTooBig
	}
	return nil
}

func TestDecodeTopLevelValidateAndTargets(t *testing.T) {
	var v validated
	err := yamlconfig.Decode([]byte("\nn: 11\n"), &v)
	if !errors.Is(err, errTooBig) || !strings.HasPrefix(err.Error(), "config line 2: ") {
		t.Errorf("Decode = %v, want the Validate error at line 2, wrapped", err)
	}
	if err := yamlconfig.Decode([]byte("n: 1"), v); err == nil {
		t.Error("Decode into a non-pointer succeeded")
	}
	var nilPtr *validated
	if err := yamlconfig.Decode([]byte("n: 1"), nilPtr); err == nil {
		t.Error("Decode into a nil pointer succeeded")
	}
	// Billion laughs stays bounded.
	var bomb strings.Builder
	bomb.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 9; i++ {
		fmt.Fprintf(&bomb, "a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n", i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	var m map[string]any
	if err := yamlconfig.Decode([]byte(bomb.String()), &m); err == nil {
		t.Error("alias bomb decoded without error")
	}
}
