package config

import (
	"fmt"
	"strings"
	"testing"
)

const accessBase = `sources:
  - name: hasura
    kind: hasura
    secrets_from_env: [HASURA_WEBHOOK_SECRET]
`

func TestAccessParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		line       int
		want       string
	}{
		{"publisher without types", accessBase + "publishers:\n  - name: orders\n    token_from_env: ORDERS_PUBLISHER_TOKEN\n", 6, "publishers[0].types: at least one event type glob"},
		{"publisher token not a variable", accessBase + "publishers:\n  - name: orders\n    token_from_env: 'orders token'\n    types: [orders.*]\n", 7, "token_from_env \"orders token\" must name an environment variable"},
		{"publisher without a token", accessBase + "publishers:\n  - name: orders\n    types: [orders.*]\n", 6, "token_from_env \"\" must name"},
		{"publisher empty glob", accessBase + "publishers:\n  - name: orders\n    token_from_env: T\n    types: ['']\n", 8, "invalid event type glob"},
		{"duplicate publisher", accessBase + "publishers:\n  - {name: orders, token_from_env: A, types: [a]}\n  - {name: orders, token_from_env: B, types: [b]}\n", 7, "duplicate publisher name"},
		{"unknown publisher key", accessBase + "publishers:\n  - {name: orders, token_from_env: A, types: [a], scopes: [x]}\n", 6, "scopes"},
		{"subscription token not a variable", accessBase + "subscriptions:\n  - name: email\n    target: email:9101\n    events: [a]\n    token_from_env: 1BAD\n", 9, "token_from_env \"1BAD\" must name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse = %v, want %q", err, tc.want)
			}
			if !strings.Contains(err.Error(), "line ") || !strings.Contains(err.Error(), fmt.Sprintf("line %d:", tc.line)) {
				t.Errorf("error %q: want line %d", err, tc.line)
			}
		})
	}
}

func TestAccess(t *testing.T) {
	f, err := Parse([]byte(accessBase + `subscriptions:
  - name: email
    target: email:9101
    events: [a]
    token_from_env: EMAIL_SERVICE_TOKEN
  - name: open
    target: builtin:analytics
    events: [b]
publishers:
  - name: orders
    token_from_env: ORDERS_PUBLISHER_TOKEN
    types: ["orders.*"]
`))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"EMAIL_SERVICE_TOKEN": "email-tok", "ORDERS_PUBLISHER_TOKEN": "orders-tok"}
	lookup := func(name string) (string, bool, error) { v, ok := env[name]; return v, ok, nil }
	a, err := f.Access(lookup)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.SubscriptionTokens) != 1 || a.SubscriptionTokens["email"] != "email-tok" {
		t.Errorf("subscription tokens %v", a.SubscriptionTokens)
	}
	if len(a.Publishers) != 1 || a.Publishers[0].Name != "orders" || a.Publishers[0].Token != "orders-tok" || a.Publishers[0].Types[0] != "orders.*" {
		t.Errorf("publishers %+v", a.Publishers)
	}
	for _, missing := range []struct{ name, want string }{
		{"EMAIL_SERVICE_TOKEN", `subscription "email": token_from_env: EMAIL_SERVICE_TOKEN is not set`},
		{"ORDERS_PUBLISHER_TOKEN", `publisher "orders": token_from_env: ORDERS_PUBLISHER_TOKEN is not set`},
	} {
		v := env[missing.name]
		delete(env, missing.name)
		if _, err := f.Access(lookup); err == nil || !strings.Contains(err.Error(), missing.want) {
			t.Errorf("without %s: %v, want %q", missing.name, err, missing.want)
		}
		env[missing.name] = v
	}
	t.Run("from the environment", func(t *testing.T) {
		t.Setenv("EMAIL_SERVICE_TOKEN", "")
		t.Setenv("EMAIL_SERVICE_TOKEN_FILE", t.TempDir()+"/none")
		if _, err := f.Access(nil); err == nil || !strings.Contains(err.Error(), "EMAIL_SERVICE_TOKEN_FILE") {
			t.Fatalf("unreadable _FILE: %v", err)
		}
	})
}
