package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// sendOptions says what to send to which source.
type sendOptions struct {
	source      string
	kind        string // "" = the demo source's kind
	secretEnv   string // "" = the kind's demo variable
	dataDir     string
	fixture     string
	file        string
	id          string
	eventHeader string // X-GitHub-Event / X-Shopify-Topic for --file
}

// request is a prepared, signed webhook.
type request struct {
	kind    string
	fixture string
	body    []byte
	headers http.Header
}

// resolveSource returns the kind and secret variable of a source.
func (o *sendOptions) resolveSource() (kind, secretEnv string, err error) {
	kind, secretEnv = o.kind, o.secretEnv
	if kind == "standard" {
		kind = kindStandard
	}
	if demo, ok := demoSources[o.source]; ok && kind == "" {
		kind = demo.kind
		if secretEnv == "" {
			secretEnv = demo.secretEnv
		}
	}
	if kind == "" {
		return "", "", usagef("source %q is not one of the demo sources (%s): give its --kind", o.source, strings.Join(sortedKeys(demoSources), ", "))
	}
	if _, ok := kindSecretEnv[kind]; !ok {
		return "", "", usagef("cannot send to source kind %q (supported: hasura, stripe, github, shopify, slack, standard_webhooks)", kind)
	}
	if secretEnv == "" {
		secretEnv = kindSecretEnv[kind]
	}
	return kind, secretEnv, nil
}

// prepare builds and signs the request (fresh ids unless o.id is set).
func (o *sendOptions) prepare(now time.Time) (*request, error) {
	kind, secretEnv, err := o.resolveSource()
	if err != nil {
		return nil, err
	}
	if o.fixture != "" && o.file != "" {
		return nil, usagef("give --fixture or --file, not both")
	}
	r := &request{kind: kind, headers: http.Header{}}
	eventHeader := o.eventHeader
	switch {
	case o.file != "":
		// A file is sent byte for byte; only header ids are generated.
		if o.file == "-" {
			r.body, err = io.ReadAll(os.Stdin)
		} else {
			r.body, err = os.ReadFile(o.file)
		}
		if err != nil {
			return nil, fmt.Errorf("read --file: %w", err)
		}
		if eventHeader == "" && (kind == kindGitHub || kind == kindShopify) {
			return nil, usagef("--file for a %s source needs --event (the %s header)", kind, map[string]string{kindGitHub: "X-GitHub-Event", kindShopify: "X-Shopify-Topic"}[kind])
		}
	default:
		r.fixture = firstNonEmpty(o.fixture, defaultFixture[kind])
		raw, err := loadFixture(kind, r.fixture)
		if err != nil {
			return nil, err
		}
		if r.body, err = freshen(kind, raw, o.id, now); err != nil {
			return nil, err
		}
		eventHeader = firstNonEmpty(eventHeader, fixtureEventHeader(kind, r.fixture))
	}
	r.headers.Set("Content-Type", "application/json")
	r.headers.Set("User-Agent", "hookmesh-cli")
	idHeaders(kind, r.headers, o.id, eventHeader, now)
	secret, err := sourceSecret(secretEnv, o.dataDir)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", o.source, err)
	}
	if err := sign(kind, &delivery{body: r.body, headers: r.headers}, secret, now); err != nil {
		return nil, err
	}
	return r, nil
}

// hookAnswer is the gateway's answer to a webhook.
type hookAnswer struct {
	EventID string `json:"event_id"`
	Status  string `json:"status"`
}

// post sends r to <base>/hooks/<source>.
func post(ctx context.Context, hc *http.Client, base *url.URL, source string, r *request) (int, []byte, error) {
	u := *base
	u.Path += "/hooks/" + url.PathEscape(source)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(r.body))
	if err != nil {
		return 0, nil, fmt.Errorf("build request: %w", err)
	}
	req.Header = r.headers.Clone()
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, &connError{addr: base.String(), err: unwrapURLError(err)}
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return resp.StatusCode, nil, &connError{addr: base.String(), err: err}
	}
	return resp.StatusCode, b, nil
}

func runSend(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCommand("send", "send <source> [--fixture NAME | --file F] [--id ID] [flags]", stdout, stderr)
	c.connFlags()
	var o sendOptions
	var list bool
	c.fs.StringVar(&o.fixture, "fixture", "", "built-in sample to send (see --list; default per source)")
	c.fs.StringVar(&o.file, "file", "", "send this file's bytes as the body instead (- for stdin)")
	c.fs.StringVar(&o.id, "id", "", "use this event/delivery id instead of a fresh one (a second send is a duplicate)")
	c.fs.StringVar(&o.kind, "kind", "", "source kind, for a source not in the demo config")
	c.fs.StringVar(&o.secretEnv, "secret-env", "", "variable holding the source's secret (default: the demo config's)")
	c.fs.StringVar(&o.dataDir, "data-dir", "", "where `hookmesh serve` keeps generated demo secrets (env HOOKMESH_DATA_DIR, default "+DefaultDataDir+")")
	c.fs.StringVar(&o.eventHeader, "event", "", "X-GitHub-Event or X-Shopify-Topic (with --file)")
	c.fs.BoolVar(&list, "list", false, "list the built-in fixtures")
	pos, code, ok := c.parse(args)
	if !ok {
		return code
	}
	if list {
		return c.listFixtures()
	}
	if len(pos) != 1 {
		return c.fail(usagef("send takes one source name, e.g. `hookmesh send hasura`"))
	}
	o.source = pos[0]
	o.dataDir = firstNonEmpty(o.dataDir, os.Getenv("HOOKMESH_DATA_DIR"), DefaultDataDir)
	cl, err := c.client()
	if err != nil {
		return c.fail(err)
	}
	r, err := o.prepare(time.Now())
	if err != nil {
		return c.fail(err)
	}
	status, body, err := post(ctx, cl.http, cl.base, o.source, r)
	if err != nil {
		return c.fail(err)
	}
	if status/100 != 2 {
		return c.fail(decodeError(&http.Response{StatusCode: status}, body))
	}
	var ans hookAnswer
	if err := json.Unmarshal(body, &ans); err != nil || ans.EventID == "" {
		return c.fail(fmt.Errorf("unexpected answer from the gateway (HTTP %d): %.200s", status, body))
	}
	if c.json {
		if err := marshalLine(stdout, map[string]any{
			"source": o.source, "kind": r.kind, "fixture": r.fixture, "event_id": ans.EventID,
			"status": ans.Status, "http_status": status,
		}); err != nil {
			return c.fail(err)
		}
		return ExitOK
	}
	what := r.fixture
	if what == "" {
		what = o.file
	}
	fmt.Fprintf(stdout, "%s %s → %s  event %s\n", o.source, what, ans.Status, ans.EventID)
	fmt.Fprintf(stdout, "  see it: hookmesh events get %s --source %s\n", ans.EventID, o.source)
	return ExitOK
}

func (c *command) listFixtures() int {
	type row struct {
		Source   string   `json:"source"`
		Kind     string   `json:"kind"`
		Default  string   `json:"default"`
		Fixtures []string `json:"fixtures"`
	}
	var rows []row
	for _, name := range sortedKeys(demoSources) {
		k := demoSources[name].kind
		rows = append(rows, row{Source: name, Kind: k, Default: defaultFixture[k], Fixtures: fixtureNames(k)})
	}
	if c.json {
		for _, r := range rows {
			if err := marshalLine(c.stdout, r); err != nil {
				return c.fail(err)
			}
		}
		return ExitOK
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SOURCE\tKIND\tFIXTURES (default first)")
	for _, r := range rows {
		names := []string{r.Default}
		for _, f := range r.Fixtures {
			if f != r.Default {
				names = append(names, f)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Source, r.Kind, strings.Join(names, ", "))
	}
	if err := tw.Flush(); err != nil {
		return c.fail(err)
	}
	return ExitOK
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
