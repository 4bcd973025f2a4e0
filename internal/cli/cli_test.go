package cli_test

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every built-in fixture, signed by `send`, is accepted by the gateway's real
// verifiers and normalised into the expected event type.
func TestSendEveryFixture(t *testing.T) {
	e := startGateway(t)
	tests := []struct {
		source, fixture, wantType string
	}{
		{"hasura", "", "hasura.public.users.insert"},
		{"hasura", "users-insert", "hasura.public.users.insert"},
		{"hasura", "users-email-update", "hasura.public.users.update"},
		{"hasura", "users-name-update", "hasura.public.users.update"},
		{"hasura", "orders-insert", "hasura.public.orders.insert"},
		{"hasura", "orders-completed", "hasura.public.orders.update"},
		{"hasura", "inventory-insert", "hasura.public.inventory.insert"},
		{"hasura", "inventory-restock", "hasura.public.inventory.update"},
		{"hasura", "cron-daily-report", "hasura.cron.daily-report"},
		{"stripe", "", "stripe.payment_intent.succeeded"},
		{"stripe", "payment_intent.payment_failed", "stripe.payment_intent.payment_failed"},
		{"stripe", "customer.subscription.created", "stripe.customer.subscription.created"},
		{"stripe", "customer.subscription.deleted", "stripe.customer.subscription.deleted"},
		{"github", "", "github.push"},
		{"github", "pull_request.opened", "github.pull_request.opened"},
		{"github", "issues.opened", "github.issues.opened"},
		{"shopify", "", "shopify.orders.create"},
		{"shopify", "products-update", "shopify.products.update"},
		{"slack", "", "slack.app_mention"},
		{"slack", "message.channels", "slack.message"},
		{"standard", "", "webhook.standard.user.created"},
		{"standard", "invoice.paid", "webhook.standard.invoice.paid"},
	}
	seen := map[string]bool{}
	for _, tc := range tests {
		t.Run(tc.source+"/"+tc.fixture, func(t *testing.T) {
			args := []string{tc.source}
			if tc.fixture != "" {
				args = append(args, "--fixture", tc.fixture)
			}
			s := e.send(t, args...)
			if s.Status != "accepted" || s.HTTPStatus != 200 || s.EventID == "" || s.Source != tc.source {
				t.Fatalf("send = %+v", s)
			}
			if seen[s.EventID] {
				t.Errorf("event id %s reused: ids must be fresh on every send", s.EventID)
			}
			seen[s.EventID] = true
			ev := e.event(t, tc.source, s.EventID)
			if ev.Event.Type != tc.wantType || ev.Event.ID != s.EventID || len(ev.Event.OriginalBody) == 0 {
				t.Errorf("stored event %s/%s has type %q, want %q", ev.Event.Source, ev.Event.ID, ev.Event.Type, tc.wantType)
			}
		})
	}

	t.Run("every fixture is covered", func(t *testing.T) {
		type listRow struct {
			Source   string   `json:"source"`
			Default  string   `json:"default"`
			Fixtures []string `json:"fixtures"`
		}
		var rows []listRow
		r := run("send", "--list", "--json")
		for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
			var row listRow
			if err := json.Unmarshal([]byte(line), &row); err != nil {
				t.Fatalf("--list --json line %q: %v", line, err)
			}
			rows = append(rows, row)
		}
		covered := map[string]bool{}
		for _, tc := range tests {
			covered[tc.source+"/"+tc.fixture] = true
		}
		for _, row := range rows {
			if !covered[row.Source+"/"] {
				t.Errorf("the default fixture of %s has no test case", row.Source)
			}
			covered[row.Source+"/"+row.Default] = true
			for _, f := range row.Fixtures {
				if !covered[row.Source+"/"+f] {
					t.Errorf("fixture %s/%s has no test case", row.Source, f)
				}
			}
		}
		if len(rows) != 6 {
			t.Errorf("--list shows %d sources, want 6", len(rows))
		}
	})
}

func TestSendIDAndFile(t *testing.T) {
	e := startGateway(t)
	for _, source := range []string{"hasura", "stripe", "github", "shopify", "slack", "standard"} {
		t.Run("--id twice is a duplicate/"+source, func(t *testing.T) {
			id := "cli-fixed-" + source
			first := e.send(t, source, "--id", id)
			second := e.send(t, source, "--id", id)
			if first.Status != "accepted" || second.Status != "duplicate" || first.EventID != id || second.EventID != id {
				t.Errorf("first %+v, second %+v: want accepted then duplicate of %s", first, second, id)
			}
		})
	}

	t.Run("--file is sent byte for byte", func(t *testing.T) {
		body := `{"id":"from-file-1","table":{"schema":"public","name":"users"},"trigger":{"name":"t"},"event":{"op":"INSERT","data":{"old":null,"new":{"id":7}}}}`
		f := filepath.Join(t.TempDir(), "body.json")
		writeFile(t, f, body)
		s := e.send(t, "hasura", "--file", f)
		if s.EventID != "from-file-1" || s.Status != "accepted" {
			t.Fatalf("send = %+v", s)
		}
		if got := string(e.event(t, "hasura", "from-file-1").Event.OriginalBody); got != body {
			t.Errorf("stored body %q, want the file's bytes", got)
		}
	})

	t.Run("--file for github with --event", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "star.json")
		writeFile(t, f, `{"action":"created","repository":{"full_name":"octo-org/webshop"}}`)
		s := e.send(t, "github", "--file", f, "--event", "star", "--id", "star-delivery-1")
		if got := e.event(t, "github", s.EventID).Event.Type; got != "github.star.created" || s.EventID != "star-delivery-1" {
			t.Errorf("type %q id %q", got, s.EventID)
		}
	})

	t.Run("custom source name with --kind", func(t *testing.T) {
		// Not configured at the gateway: the signed request reaches it and is refused.
		r := e.cmd("send", "partner", "--kind", "hasura", "--data-dir", e.dataDir)
		if r.code != 1 || !strings.Contains(r.stderr, "unknown_source") {
			t.Errorf("exit %d stderr %q, want 1 and unknown_source", r.code, r.stderr)
		}
	})

	t.Run("human output names the event", func(t *testing.T) {
		r := e.cmd("send", "stripe", "--data-dir", e.dataDir)
		if r.code != 0 || !strings.Contains(r.stdout, "accepted") || !strings.Contains(r.stdout, "hookmesh events get evt_") {
			t.Errorf("exit %d stdout %q", r.code, r.stdout)
		}
	})
}

func TestSendErrors(t *testing.T) {
	e := startGateway(t)
	emptyDir := t.TempDir()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := "http://" + closed.Addr().String()
	_ = closed.Close()
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		code     int
		inStderr string
	}{
		{"no source", []string{"send"}, nil, 2, "one source name"},
		{"two sources", []string{"send", "hasura", "stripe"}, nil, 2, "one source name"},
		{"unknown flag", []string{"send", "hasura", "--bogus"}, nil, 2, "flag provided but not defined"},
		{"unknown demo source", []string{"send", "partner"}, nil, 2, "give its --kind"},
		{"unsupported kind", []string{"send", "partner", "--kind", "hmac"}, nil, 2, "cannot send to source kind"},
		{"unknown fixture", []string{"send", "hasura", "--fixture", "nope"}, nil, 2, "no hasura fixture \"nope\""},
		{"fixture and file", []string{"send", "hasura", "--fixture", "users-insert", "--file", "x.json"}, nil, 2, "not both"},
		{"missing file", []string{"send", "hasura", "--file", filepath.Join(emptyDir, "missing.json")}, nil, 1, "read --file"},
		{"github file without --event", []string{"send", "github", "--file", os.Args[0]}, nil, 2, "needs --event"},
		{"no secret anywhere", []string{"send", "github", "--data-dir", emptyDir}, nil, 1, "no secret: set GITHUB_WEBHOOK_SECRET"},
		{"both variable and _FILE", []string{"send", "hasura"}, map[string]string{"HASURA_WEBHOOK_SECRET_FILE": os.Args[0]}, 1, "HASURA_WEBHOOK_SECRET and HASURA_WEBHOOK_SECRET_FILE are both set"},
		{"wrong secret is refused by the gateway", []string{"send", "stripe"}, map[string]string{"STRIPE_WEBHOOK_SECRET_FILE": "", "STRIPE_WEBHOOK_SECRET": "whsec_wrong"}, 1, "signature_mismatch"},
		{"wrong hasura secret", []string{"send", "hasura"}, map[string]string{"HASURA_WEBHOOK_SECRET": "nope"}, 1, "signature_mismatch"},
		{"bad standard secret", []string{"send", "standard"}, map[string]string{"STANDARD_WEBHOOK_SECRET": "whsec_not*base64"}, 1, "not whsec_<base64>"},
		{"gateway down", []string{"send", "hasura", "--addr", deadAddr}, nil, 1, "cannot reach the gateway"},
		{"bad addr", []string{"send", "hasura", "--addr", "ftp://x"}, nil, 2, "not an http(s) URL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			args := append([]string{}, tc.args...)
			if !contains(args, "--addr") {
				args = append(args, "--addr", e.url)
			}
			if !contains(args, "--data-dir") {
				args = append(args, "--data-dir", e.dataDir)
			}
			r := run(args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.inStderr) {
				t.Errorf("exit %d stderr %q, want %d containing %q", r.code, r.stderr, tc.code, tc.inStderr)
			}
			if r.stdout != "" {
				t.Errorf("stdout %q, want nothing on failure", r.stdout)
			}
		})
	}
}

func contains(ss []string, s string) bool {
	for _, v := range ss {
		if v == s {
			return true
		}
	}
	return false
}

func TestEventsCommands(t *testing.T) {
	e := startGateway(t)
	var ids []string
	for range 3 {
		ids = append(ids, e.send(t, "github", "--fixture", "pull_request.opened").EventID)
	}
	hasuraID := e.send(t, "hasura").EventID

	t.Run("ls --json filters by source and type", func(t *testing.T) {
		var res struct {
			Events []struct {
				ID, Source, Type string
			} `json:"events"`
			NextPageToken string `json:"next_page_token"`
		}
		e.cmd("events", "ls", "--json", "--source", "github", "--type", "github.pull_request.*", "--since", "1h").jsonOut(t, &res)
		if len(res.Events) != 3 {
			t.Fatalf("got %d events, want 3: %+v", len(res.Events), res.Events)
		}
		for i, ev := range res.Events { // newest first
			if ev.ID != ids[2-i] || ev.Source != "github" {
				t.Errorf("event %d = %+v, want %s", i, ev, ids[2-i])
			}
		}
	})

	t.Run("ls pages with --limit and --page-token", func(t *testing.T) {
		r := e.cmd("events", "ls", "--source", "github", "--limit", "2")
		if r.code != 0 || strings.Count(r.stdout, "github.pull_request.opened") != 2 || !strings.Contains(r.stderr, "more: --page-token ") {
			t.Fatalf("exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
		}
		token := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(r.stderr), "more: --page-token "))
		r = e.cmd("events", "ls", "--source", "github", "--limit", "2", "--page-token", token)
		if r.code != 0 || !strings.Contains(r.stdout, ids[0]) || strings.Contains(r.stdout, ids[2]) {
			t.Errorf("second page: exit %d stdout %q", r.code, r.stdout)
		}
	})

	t.Run("ls human table", func(t *testing.T) {
		r := e.cmd("events", "ls")
		if r.code != 0 || !strings.HasPrefix(r.stdout, "RECEIVED") || !strings.Contains(r.stdout, hasuraID) {
			t.Errorf("exit %d stdout %q", r.code, r.stdout)
		}
	})

	t.Run("get human output", func(t *testing.T) {
		r := e.cmd("events", "get", hasuraID, "--body")
		if r.code != 0 || !strings.Contains(r.stdout, "hasura.public.users.insert") || !strings.Contains(r.stdout, "ada@example.com") ||
			!strings.Contains(r.stdout, "sink:") {
			t.Errorf("exit %d stdout %q", r.code, r.stdout)
		}
	})

	t.Run("token from the environment", func(t *testing.T) {
		t.Setenv("HOOKMESH_ADMIN_TOKEN", adminToken)
		t.Setenv("HOOKMESH_ADDR", e.url)
		if r := run("events", "ls", "--json"); r.code != 0 {
			t.Errorf("exit %d stderr %q", r.code, r.stderr)
		}
		f := filepath.Join(t.TempDir(), "token")
		writeFile(t, f, adminToken+"\n")
		t.Setenv("HOOKMESH_ADMIN_TOKEN", "")
		t.Setenv("HOOKMESH_ADMIN_TOKEN_FILE", f)
		if r := run("events", "ls", "--json"); r.code != 0 {
			t.Errorf("token file: exit %d stderr %q", r.code, r.stderr)
		}
	})

	errs := []struct {
		name     string
		args     []string
		code     int
		inStderr string
	}{
		{"unknown event", []string{"events", "get", "no-such-event", "--addr", e.url, "--token", adminToken}, 1, "not_found"},
		{"no token", []string{"events", "ls", "--addr", e.url}, 1, "unauthenticated"},
		{"wrong token hint", []string{"events", "ls", "--addr", e.url, "--token", "nope"}, 1, "set --token or HOOKMESH_ADMIN_TOKEN"},
		{"bad --since", []string{"events", "ls", "--since", "yesterday-ish", "--addr", e.url}, 2, "is not a time"},
		{"negative duration", []string{"events", "ls", "--since", "-1h", "--addr", e.url}, 2, "must be positive"},
		{"bad --limit", []string{"events", "ls", "--limit", "0", "--addr", e.url}, 2, "--limit"},
		{"get without id", []string{"events", "get", "--addr", e.url}, 2, "one event id"},
		{"unknown subcommand", []string{"events", "rm"}, 2, "unknown subcommand"},
		{"deadletters unknown subcommand", []string{"deadletters", "purge"}, 2, "unknown subcommand"},
		{"unknown command", []string{"frobnicate"}, 2, "unknown command"},
		{"since after until", []string{"events", "ls", "--since", "2025-01-02", "--until", "2025-01-01", "--addr", e.url, "--token", adminToken}, 1, "invalid_argument"},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) {
			r := run(tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.inStderr) {
				t.Errorf("exit %d stderr %q, want %d containing %q", r.code, r.stderr, tc.code, tc.inStderr)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	tests := []struct {
		args []string
		code int
		in   string
	}{
		{[]string{"help"}, 0, "hookmesh send <source>"},
		{[]string{"--help"}, 0, "Exit codes: 0 ok, 1 failure, 2 usage."},
		{[]string{"send", "--help"}, 0, "--fixture"},
		{[]string{"bench", "-h"}, 0, "--concurrency"},
		{[]string{"replay", "--help"}, 0, "--dry-run"},
		{[]string{"events", "--help"}, 0, "events get <id>"},
		{[]string{"events"}, 2, "events ls"},
		{[]string{"subscriptions"}, 2, "subscriptions pause <name>"},
		{[]string{"serve", "--help"}, 0, "--data-dir"},
		{[]string{"serve", "--help"}, 0, "--grpc-addr"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := run(tc.args...)
			if r.code != tc.code || !strings.Contains(r.stdout+r.stderr, tc.in) {
				t.Errorf("exit %d output %q, want %d containing %q", r.code, r.stdout+r.stderr, tc.code, tc.in)
			}
		})
	}
}

func TestBench(t *testing.T) {
	e := startGateway(t)
	type summary struct {
		Requests   int64              `json:"requests"`
		OK         int64              `json:"ok"`
		Errors     int64              `json:"errors"`
		Mode       string             `json:"mode"`
		Throughput float64            `json:"throughput_per_second"`
		LatencyMS  map[string]float64 `json:"latency_ms"`
		Statuses   map[string]int64   `json:"statuses"`
		FirstError string             `json:"first_error"`
	}
	t.Run("rate mode, unique ids, all accepted", func(t *testing.T) {
		var s summary
		r := e.cmd("bench", "--json", "--rate", "100", "--duration", "1s", "--data-dir", e.dataDir)
		r.jsonOut(t, &s)
		if s.Mode != "rate" || s.Requests < 50 || s.OK != s.Requests || s.Errors != 0 || s.Statuses["200"] != s.Requests || s.Throughput <= 0 {
			t.Fatalf("summary %+v", s)
		}
		for _, p := range []string{"p50", "p90", "p99", "max"} {
			if s.LatencyMS[p] <= 0 {
				t.Errorf("latency %s = %v", p, s.LatencyMS[p])
			}
		}
		if !(s.LatencyMS["p50"] <= s.LatencyMS["p90"] && s.LatencyMS["p90"] <= s.LatencyMS["p99"] && s.LatencyMS["p99"] <= s.LatencyMS["max"]) {
			t.Errorf("percentiles out of order: %v", s.LatencyMS)
		}
		if !strings.Contains(r.stderr, " sent ") {
			t.Errorf("no progress lines on stderr: %q", r.stderr)
		}
		// Unique ids: every request became its own stored event.
		var res struct {
			Events []struct{ ID string } `json:"events"`
		}
		e.cmd("events", "ls", "--json", "--source", "hasura", "--limit", "1000").jsonOut(t, &res)
		if int64(len(res.Events)) != s.Requests {
			t.Errorf("%d events stored for %d accepted requests", len(res.Events), s.Requests)
		}
	})

	t.Run("concurrency mode with a request cap, github source", func(t *testing.T) {
		var s summary
		e.cmd("bench", "--json", "--concurrency", "4", "--requests", "20", "--duration", "20s", "--source", "github", "--data-dir", e.dataDir).jsonOut(t, &s)
		if s.Mode != "concurrency" || s.Requests != 20 || s.OK != 20 {
			t.Errorf("summary %+v", s)
		}
	})

	t.Run("human summary", func(t *testing.T) {
		r := e.cmd("bench", "--requests", "10", "--concurrency", "2", "--source", "standard", "--data-dir", e.dataDir)
		for _, want := range []string{"requests    10 in", "throughput", "p50", "p90", "p99", "max", "statuses    200: 10"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("summary lacks %q:\n%s", want, r.stdout)
			}
		}
	})

	t.Run("errors by status, exit 1 when nothing succeeded", func(t *testing.T) {
		t.Setenv("HASURA_WEBHOOK_SECRET", "wrong")
		var s summary
		r := e.cmd("bench", "--json", "--requests", "5", "--concurrency", "1", "--data-dir", e.dataDir)
		if r.code != 1 {
			t.Fatalf("exit %d, want 1", r.code)
		}
		if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
			t.Fatalf("stdout %q: %v", r.stdout, err)
		}
		if s.Statuses["401"] != 5 || s.OK != 0 || !strings.Contains(r.stderr, "no request succeeded") {
			t.Errorf("summary %+v stderr %q", s, r.stderr)
		}
	})

	for _, tc := range []struct {
		args []string
		in   string
	}{
		{[]string{"bench", "--duration", "0s"}, "--duration must be positive"},
		{[]string{"bench", "--rate", "-5"}, "--rate must be positive"},
		{[]string{"bench", "--concurrency", "-1"}, "--concurrency"},
		{[]string{"bench", "extra"}, "unexpected argument"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			if r := run(tc.args...); r.code != 2 || !strings.Contains(r.stderr, tc.in) {
				t.Errorf("exit %d stderr %q", r.code, r.stderr)
			}
		})
	}

}
