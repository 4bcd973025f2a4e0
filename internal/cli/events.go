package cli

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// eventJSON is the part of a REST Event the CLI prints.
type eventJSON struct {
	ID              string `json:"id"`
	Source          string `json:"source"`
	Type            string `json:"type"`
	Subject         string `json:"subject"`
	Time            string `json:"time"`
	ReceivedTime    string `json:"received_time"`
	Datacontenttype string `json:"datacontenttype"`
	Traceparent     string `json:"traceparent"`
	OriginalBody    string `json:"original_body"` // base64
}

type attemptJSON struct {
	Number    int           `json:"number"`
	StartTime string        `json:"start_time"`
	Duration  protoDuration `json:"duration"`
	Code      string        `json:"code"`
	Message   string        `json:"message"`
	Replay    bool          `json:"replay"`
	TraceID   string        `json:"trace_id"`
}

type deliveryJSON struct {
	Subscription    string        `json:"subscription"`
	State           string        `json:"state"`
	Attempts        []attemptJSON `json:"attempts"`
	NextAttemptTime string        `json:"next_attempt_time"`
}

type deadLetterJSON struct {
	ID           string        `json:"id"`
	Subscription string        `json:"subscription"`
	Event        eventJSON     `json:"event"`
	Reason       string        `json:"reason"`
	Attempts     []attemptJSON `json:"attempts"`
	CreateTime   string        `json:"create_time"`
	Resolution   string        `json:"resolution"`
}

// parseTime reads an RFC 3339 time, a date (2006-01-02, UTC) or a duration ago ("2h").
func parseTime(flagName, v string, now time.Time) (string, error) {
	if v == "" {
		return "", nil
	}
	if d, err := time.ParseDuration(v); err == nil {
		if d < 0 {
			return "", usagef("--%s %q: a duration means that long ago, so it must be positive", flagName, v)
		}
		return now.Add(-d).UTC().Format(time.RFC3339Nano), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.UTC().Format(time.RFC3339Nano), nil
	}
	if t, err := time.Parse("2006-01-02", v); err == nil {
		return t.UTC().Format(time.RFC3339Nano), nil
	}
	return "", usagef("--%s %q is not a time: use RFC 3339 (2025-01-02T15:04:05Z), a date (2025-01-02) or a duration ago (2h)", flagName, v)
}

// shortTime renders an RFC 3339 time compactly for tables.
func shortTime(s string) string {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || s == "" {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

func shortState(s, prefix string) string {
	return strings.ToLower(strings.TrimPrefix(s, prefix))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func runEvents(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, "Usage:\n  hookmesh events ls [--source S] [--type GLOB] [--since T] [--until T] [--limit N] [--page-token T]\n  hookmesh events get <id> [--source S]\n")
		return ExitUsage
	}
	if args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stdout, "Usage:\n  hookmesh events ls [--source S] [--type GLOB] [--since T] [--until T] [--limit N] [--page-token T]\n  hookmesh events get <id> [--source S]\n")
		return ExitOK
	}
	switch args[0] {
	case "ls", "list":
		return eventsList(ctx, args[1:], stdout, stderr)
	case "get", "show":
		return eventsGet(ctx, args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "hookmesh events: unknown subcommand %q (ls, get)\n", args[0])
	return ExitUsage
}

func eventsList(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCommand("events ls", "events ls [--source S] [--type GLOB] [--since T] [--until T] [--limit N] [--page-token T]", stdout, stderr)
	c.connFlags()
	var source, typ, since, until, pageToken string
	var limit int
	c.fs.StringVar(&source, "source", "", "only this source")
	c.fs.StringVar(&typ, "type", "", `only types matching this glob ("github.*")`)
	c.fs.StringVar(&since, "since", "", "received at or after (RFC 3339, date, or duration ago like 2h)")
	c.fs.StringVar(&until, "until", "", "received before")
	c.fs.IntVar(&limit, "limit", 50, "page size (at most 1000)")
	c.fs.StringVar(&pageToken, "page-token", "", "continue after a previous page")
	pos, code, ok := c.parse(args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return c.fail(usagef("unexpected argument %q", pos[0]))
	}
	if limit < 1 || limit > 1000 {
		return c.fail(usagef("--limit must be between 1 and 1000"))
	}
	q := url.Values{}
	now := time.Now()
	for _, f := range []struct{ name, v string }{{"since", since}, {"until", until}} {
		t, err := parseTime(f.name, f.v, now)
		if err != nil {
			return c.fail(err)
		}
		if t != "" {
			q.Set(f.name, t)
		}
	}
	setIf(q, "source", source)
	setIf(q, "type", typ)
	setIf(q, "page_token", pageToken)
	q.Set("page_size", strconv.Itoa(limit))
	cl, err := c.client()
	if err != nil {
		return c.fail(err)
	}
	var res struct {
		Events        []eventJSON `json:"events"`
		NextPageToken string      `json:"next_page_token"`
	}
	raw, err := cl.getJSON(ctx, "/v1/events", q, &res)
	if err != nil {
		return c.fail(err)
	}
	if c.json {
		return c.done(writeJSON(stdout, raw))
	}
	if len(res.Events) == 0 {
		fmt.Fprintln(stdout, "no events")
	} else {
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "RECEIVED\tSOURCE\tTYPE\tID\tSUBJECT")
		for _, e := range res.Events {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", shortTime(e.ReceivedTime), e.Source, e.Type, e.ID, orDash(e.Subject))
		}
		if err := tw.Flush(); err != nil {
			return c.fail(err)
		}
	}
	if res.NextPageToken != "" {
		fmt.Fprintf(stderr, "more: --page-token %s\n", res.NextPageToken)
	}
	return ExitOK
}

func eventsGet(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCommand("events get", "events get <id> [--source S] [--body]", stdout, stderr)
	c.connFlags()
	var source string
	var showBody bool
	c.fs.StringVar(&source, "source", "", "the event's source (needed only when two sources used the id)")
	c.fs.BoolVar(&showBody, "body", false, "also print the original body")
	pos, code, ok := c.parse(args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		return c.fail(usagef("events get takes one event id"))
	}
	cl, err := c.client()
	if err != nil {
		return c.fail(err)
	}
	q := url.Values{}
	setIf(q, "source", source)
	var res struct {
		Event      eventJSON      `json:"event"`
		Deliveries []deliveryJSON `json:"deliveries"`
	}
	raw, err := cl.getJSON(ctx, "/v1/events/"+url.PathEscape(pos[0]), q, &res)
	if err != nil {
		return c.fail(err)
	}
	if c.json {
		return c.done(writeJSON(stdout, raw))
	}
	e := res.Event
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	for _, kv := range [][2]string{
		{"id", e.ID}, {"source", e.Source}, {"type", e.Type}, {"subject", orDash(e.Subject)},
		{"time", shortTime(e.Time)}, {"received", shortTime(e.ReceivedTime)}, {"traceparent", orDash(e.Traceparent)},
	} {
		fmt.Fprintf(tw, "%s\t%s\n", kv[0], kv[1])
	}
	if err := tw.Flush(); err != nil {
		return c.fail(err)
	}
	if len(res.Deliveries) == 0 {
		fmt.Fprintln(stdout, "\nno deliveries (no subscription takes this event, or the dispatcher is not running)")
	}
	for _, d := range res.Deliveries {
		fmt.Fprintf(stdout, "\n%s: %s", d.Subscription, shortState(d.State, "DELIVERY_STATE_"))
		if d.NextAttemptTime != "" {
			fmt.Fprintf(stdout, " (next attempt %s)", shortTime(d.NextAttemptTime))
		}
		fmt.Fprintln(stdout)
		printAttempts(stdout, d.Attempts)
	}
	if showBody {
		b, err := base64.StdEncoding.DecodeString(e.OriginalBody)
		if err != nil {
			return c.fail(fmt.Errorf("original body is not base64: %w", err))
		}
		fmt.Fprintf(stdout, "\noriginal body:\n%s\n", b)
	}
	return ExitOK
}

func printAttempts(w io.Writer, attempts []attemptJSON) {
	if len(attempts) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  #\tSTARTED\tTOOK\tCODE\tTRACE\tMESSAGE")
	for _, a := range attempts {
		took := "-"
		if d, ok := a.Duration.Std(); ok {
			took = d.Round(time.Microsecond).String()
		}
		code := a.Code
		if a.Replay {
			code += " (replay)"
		}
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\t%s\n", a.Number, shortTime(a.StartTime), took, code, orDash(a.TraceID), a.Message)
	}
	_ = tw.Flush()
}

func runDeadLetters(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, "Usage:\n  hookmesh deadletters ls [--subscription S] [--source S] [--type GLOB] [--since T] [--until T] [--all] [--limit N]\n")
		return ExitUsage
	}
	if args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stdout, "Usage:\n  hookmesh deadletters ls [--subscription S] [--source S] [--type GLOB] [--since T] [--until T] [--all] [--limit N]\n")
		return ExitOK
	}
	if args[0] != "ls" && args[0] != "list" {
		fmt.Fprintf(stderr, "hookmesh deadletters: unknown subcommand %q (ls)\n", args[0])
		return ExitUsage
	}
	c := newCommand("deadletters ls", "deadletters ls [--subscription S] [--source S] [--type GLOB] [--since T] [--until T] [--all] [--limit N]", stdout, stderr)
	c.connFlags()
	var sub, source, typ, since, until, pageToken string
	var all bool
	var limit int
	c.fs.StringVar(&sub, "subscription", "", "only this subscription")
	c.fs.StringVar(&source, "source", "", "only events of this source")
	c.fs.StringVar(&typ, "type", "", "only event types matching this glob")
	c.fs.StringVar(&since, "since", "", "dead-lettered at or after (RFC 3339, date, or duration ago)")
	c.fs.StringVar(&until, "until", "", "dead-lettered before")
	c.fs.BoolVar(&all, "all", false, "include resolved and replayed dead letters")
	c.fs.IntVar(&limit, "limit", 50, "page size (at most 1000)")
	c.fs.StringVar(&pageToken, "page-token", "", "continue after a previous page")
	pos, code, ok := c.parse(args[1:])
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return c.fail(usagef("unexpected argument %q", pos[0]))
	}
	if limit < 1 || limit > 1000 {
		return c.fail(usagef("--limit must be between 1 and 1000"))
	}
	q := url.Values{}
	now := time.Now()
	for _, f := range []struct{ name, v string }{{"since", since}, {"until", until}} {
		t, err := parseTime(f.name, f.v, now)
		if err != nil {
			return c.fail(err)
		}
		setIf(q, f.name, t)
	}
	setIf(q, "subscription", sub)
	setIf(q, "source", source)
	setIf(q, "type", typ)
	setIf(q, "page_token", pageToken)
	if all {
		q.Set("include_resolved", "true")
	}
	q.Set("page_size", strconv.Itoa(limit))
	cl, err := c.client()
	if err != nil {
		return c.fail(err)
	}
	var res struct {
		DeadLetters   []deadLetterJSON `json:"dead_letters"`
		NextPageToken string           `json:"next_page_token"`
	}
	raw, err := cl.getJSON(ctx, "/v1/deadletters", q, &res)
	if err != nil {
		return c.fail(err)
	}
	if c.json {
		return c.done(writeJSON(stdout, raw))
	}
	if len(res.DeadLetters) == 0 {
		fmt.Fprintln(stdout, "no dead letters")
	} else {
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CREATED\tSUBSCRIPTION\tSOURCE\tEVENT ID\tTYPE\tREASON\tATTEMPTS\tLAST ERROR\tSTATUS")
		for _, d := range res.DeadLetters {
			last := ""
			if n := len(d.Attempts); n > 0 {
				last = strings.TrimSpace(d.Attempts[n-1].Code + " " + d.Attempts[n-1].Message)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", shortTime(d.CreateTime), d.Subscription, d.Event.Source,
				d.Event.ID, d.Event.Type, d.Reason, len(d.Attempts), orDash(truncate(last, 60)), firstNonEmpty(d.Resolution, "open"))
		}
		if err := tw.Flush(); err != nil {
			return c.fail(err)
		}
		fmt.Fprintln(stdout, "\nreplay one: hookmesh replay <event id> --source <source> --subscription <subscription>")
	}
	if res.NextPageToken != "" {
		fmt.Fprintf(stderr, "more: --page-token %s\n", res.NextPageToken)
	}
	return ExitOK
}

func truncate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func setIf(q url.Values, k, v string) {
	if v != "" {
		q.Set(k, v)
	}
}

// done turns an output error into a failure.
func (c *command) done(err error) int {
	if err != nil {
		return c.fail(err)
	}
	return ExitOK
}
