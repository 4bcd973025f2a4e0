package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"
)

// replayJSON is a bulk replay job.
type replayJSON struct {
	ID      string `json:"id"`
	State   string `json:"state"`
	Matched num    `json:"matched"`
	Queued  num    `json:"queued"`
	Error   string `json:"error"`
}

// Replay job states (REST enum names).
const (
	replayRunning = "REPLAY_STATE_RUNNING"
	replayDone    = "REPLAY_STATE_DONE"
	replayFailed  = "REPLAY_STATE_FAILED"
	replayDryRun  = "REPLAY_STATE_DRY_RUN"
)

// stringList is a repeatable flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

var _ flag.Value = (*stringList)(nil)

// replayPoll is how often a bulk job is polled.
var replayPoll = 500 * time.Millisecond

func runReplay(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCommand("replay", "replay <event id> [--source S] [--subscription S]...\n       hookmesh replay --since T [--until T] [--source S] [--type GLOB] [--subscription S] [--dead-letters-only] [--rate N] [--dry-run] [--no-wait]", stdout, stderr)
	c.connFlags()
	var subs stringList
	var source, typ, since, until string
	var dlOnly, dryRun, noWait bool
	var rate int
	c.fs.StringVar(&source, "source", "", "the event's source / only events of this source")
	c.fs.Var(&subs, "subscription", "replay only to this subscription (one event: repeatable)")
	c.fs.StringVar(&typ, "type", "", "bulk: only types matching this glob")
	c.fs.StringVar(&since, "since", "", "bulk: events received at or after (RFC 3339, date, or duration ago like 2h); required")
	c.fs.StringVar(&until, "until", "", "bulk: events received before (default now)")
	c.fs.BoolVar(&dlOnly, "dead-letters-only", false, "bulk: only open dead letters")
	c.fs.BoolVar(&dryRun, "dry-run", false, "bulk: count the matching events, replay nothing")
	c.fs.IntVar(&rate, "rate", 0, "bulk: events queued per second (server default 100)")
	c.fs.BoolVar(&noWait, "no-wait", false, "bulk: print the job id and return without following it")
	pos, code, ok := c.parse(args)
	if !ok {
		return code
	}
	cl, err := c.client()
	if err != nil {
		return c.fail(err)
	}
	if len(pos) > 1 {
		return c.fail(usagef("replay takes at most one event id"))
	}
	if len(pos) == 1 {
		if typ != "" || since != "" || until != "" || dlOnly || dryRun || rate != 0 || noWait {
			return c.fail(usagef("--type, --since, --until, --dead-letters-only, --dry-run, --rate and --no-wait are for bulk replays, not one event"))
		}
		return c.replayOne(ctx, cl, pos[0], source, subs)
	}
	if since == "" {
		return c.fail(usagef("give an event id, or --since for a bulk replay"))
	}
	if len(subs) > 1 {
		return c.fail(usagef("a bulk replay takes one --subscription"))
	}
	if rate < 0 {
		return c.fail(usagef("--rate must be positive"))
	}
	now := time.Now()
	body := map[string]any{"dead_letters_only": dlOnly, "dry_run": dryRun}
	for _, f := range []struct{ name, v string }{{"since", since}, {"until", until}} {
		t, err := parseTime(f.name, f.v, now)
		if err != nil {
			return c.fail(err)
		}
		if t != "" {
			body[f.name] = t
		}
	}
	if source != "" {
		body["source"] = source
	}
	if typ != "" {
		body["type"] = typ
	}
	if len(subs) == 1 {
		body["subscription"] = subs[0]
	}
	if rate > 0 {
		body["rate_per_second"] = rate
	}
	var res struct {
		Replay replayJSON `json:"replay"`
	}
	raw, err := cl.postJSON(ctx, "/v1/replays", body, &res)
	if err != nil {
		return c.fail(err)
	}
	job := res.Replay
	if dryRun || job.State == replayDryRun {
		if c.json {
			return c.done(writeJSON(stdout, raw))
		}
		fmt.Fprintf(stdout, "dry run: %d events match; nothing was replayed\n", job.Matched)
		return ExitOK
	}
	if noWait {
		if c.json {
			return c.done(writeJSON(stdout, raw))
		}
		fmt.Fprintf(stdout, "replay %s started (%d events match)\n  follow: GET /v1/replays/%s\n", job.ID, job.Matched, job.ID)
		return ExitOK
	}
	return c.follow(ctx, cl, raw, job)
}

func (c *command) replayOne(ctx context.Context, cl *client, id, source string, subs []string) int {
	body := map[string]any{}
	if source != "" {
		body["source"] = source
	}
	if len(subs) > 0 {
		body["subscriptions"] = subs
	}
	var res struct {
		Subscriptions []string `json:"subscriptions"`
	}
	raw, err := cl.postJSON(ctx, "/v1/events/"+url.PathEscape(id)+":replay", body, &res)
	if err != nil {
		return c.fail(err)
	}
	if c.json {
		return c.done(writeJSON(c.stdout, raw))
	}
	if len(res.Subscriptions) == 0 {
		fmt.Fprintf(c.stdout, "event %s: no subscription takes it; nothing replayed\n", id)
		return ExitOK
	}
	fmt.Fprintf(c.stdout, "event %s: replay queued to %s\n", id, strings.Join(res.Subscriptions, ", "))
	return ExitOK
}

// follow polls the job until it ends: a progress bar on a terminal, a plain line per
// change otherwise; --json prints the final job.
func (c *command) follow(ctx context.Context, cl *client, raw []byte, job replayJSON) int {
	tty := !c.json && isTerminal(c.stderr)
	var lastLine string
	report := func(j replayJSON) {
		if c.json {
			return
		}
		if tty {
			fmt.Fprintf(c.stderr, "\r%s", progressBar(int64(j.Queued), int64(j.Matched), 30))
			return
		}
		line := fmt.Sprintf("replay %s: %d/%d queued", j.ID, j.Queued, j.Matched)
		if line != lastLine {
			fmt.Fprintln(c.stdout, line)
			lastLine = line
		}
	}
	tick := time.NewTicker(replayPoll)
	defer tick.Stop()
	for job.State == replayRunning || job.State == "" {
		report(job)
		select {
		case <-ctx.Done():
			if tty {
				fmt.Fprintln(c.stderr)
			}
			return c.fail(fmt.Errorf("stopped following replay %s (it goes on in the gateway): %w", job.ID, ctx.Err()))
		case <-tick.C:
		}
		var res struct {
			Replay replayJSON `json:"replay"`
		}
		var err error
		if raw, err = cl.getJSON(ctx, "/v1/replays/"+url.PathEscape(job.ID), nil, &res); err != nil {
			if errors.Is(err, context.Canceled) {
				continue
			}
			return c.fail(err)
		}
		job = res.Replay
	}
	report(job)
	if tty {
		fmt.Fprintln(c.stderr)
	}
	if c.json {
		if err := writeJSON(c.stdout, raw); err != nil {
			return c.fail(err)
		}
	}
	switch job.State {
	case replayDone:
		if !c.json {
			fmt.Fprintf(c.stdout, "replay %s done: %d of %d events queued for delivery\n", job.ID, job.Queued, job.Matched)
		}
		return ExitOK
	case replayFailed:
		return c.fail(fmt.Errorf("replay %s failed after %d of %d events: %s", job.ID, job.Queued, job.Matched, job.Error))
	}
	return c.fail(fmt.Errorf("replay %s ended in state %s", job.ID, job.State))
}

// progressBar renders "[#####-----]  12/40  30%".
func progressBar(done, total int64, width int) string {
	frac := 1.0
	if total > 0 {
		frac = min(float64(done)/float64(total), 1)
	}
	n := int(frac * float64(width))
	return fmt.Sprintf("[%s%s] %d/%d %3.0f%%", strings.Repeat("#", n), strings.Repeat("-", width-n), done, total, frac*100)
}
