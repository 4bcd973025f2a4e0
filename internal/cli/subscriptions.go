package cli

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

type subscriptionJSON struct {
	Name                 string        `json:"name"`
	Target               string        `json:"target"`
	Events               []string      `json:"events"`
	Paused               bool          `json:"paused"`
	Backlog              num           `json:"backlog"`
	OldestUndeliveredAge protoDuration `json:"oldest_undelivered_age"`
	Health               string        `json:"health"`
	Delivered            num           `json:"delivered"`
	DeadLetters          num           `json:"dead_letters"`
	StartFrom            string        `json:"start_from"`
	BackfillThrough      num           `json:"backfill_through"`
	AckedThrough         num           `json:"acked_through"`
	Backfilling          bool          `json:"backfilling"`
}

// backfill is the BACKFILL column: "-" without one, "done", or acked/through
// event stream sequences while it runs.
func (s subscriptionJSON) backfill() string {
	switch {
	case s.BackfillThrough == 0:
		return "-"
	case !s.Backfilling:
		return "done"
	}
	return strconv.FormatInt(int64(s.AckedThrough), 10) + "/" + strconv.FormatInt(int64(s.BackfillThrough), 10)
}

func runSubscriptions(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, "Usage:\n  hookmesh subscriptions ls\n  hookmesh subscriptions pause <name>\n  hookmesh subscriptions resume <name>\n")
		return ExitUsage
	}
	if args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stdout, "Usage:\n  hookmesh subscriptions ls\n  hookmesh subscriptions pause <name>\n  hookmesh subscriptions resume <name>\n")
		return ExitOK
	}
	switch args[0] {
	case "ls", "list":
		return subscriptionsList(ctx, args[1:], stdout, stderr)
	case "pause", "resume":
		return subscriptionsToggle(ctx, args[0], args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "hookmesh subscriptions: unknown subcommand %q (ls, pause, resume)\n", args[0])
	return ExitUsage
}

func subscriptionsList(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCommand("subscriptions ls", "subscriptions ls [flags]", stdout, stderr)
	c.connFlags()
	pos, code, ok := c.parse(args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return c.fail(usagef("unexpected argument %q", pos[0]))
	}
	cl, err := c.client()
	if err != nil {
		return c.fail(err)
	}
	var res struct {
		Subscriptions []subscriptionJSON `json:"subscriptions"`
	}
	raw, err := cl.getJSON(ctx, "/v1/subscriptions", nil, &res)
	if err != nil {
		return c.fail(err)
	}
	if c.json {
		return c.done(writeJSON(stdout, raw))
	}
	if len(res.Subscriptions) == 0 {
		fmt.Fprintln(stdout, "no subscriptions")
		return ExitOK
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATE\tBACKLOG\tOLDEST\tHEALTH\tDELIVERED\tDEAD\tSTART\tBACKFILL\tTARGET")
	for _, s := range res.Subscriptions {
		state := "active"
		if s.Paused {
			state = "paused"
		}
		oldest := "-"
		if d, ok := s.OldestUndeliveredAge.Std(); ok && s.Backlog > 0 {
			oldest = d.Round(time.Second).String()
		}
		health := shortState(s.Health, "SUBSCRIPTION_HEALTH_")
		if health == "unspecified" || health == "" {
			health = "unchecked"
		}
		start := s.StartFrom
		if start == "" {
			start = "new"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, state, strconv.FormatInt(int64(s.Backlog), 10), oldest,
			health, strconv.FormatInt(int64(s.Delivered), 10), strconv.FormatInt(int64(s.DeadLetters), 10), start, s.backfill(), s.Target)
	}
	return c.done(tw.Flush())
}

func subscriptionsToggle(ctx context.Context, verb string, args []string, stdout, stderr io.Writer) int {
	c := newCommand("subscriptions "+verb, "subscriptions "+verb+" <name> [flags]", stdout, stderr)
	c.connFlags()
	pos, code, ok := c.parse(args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		return c.fail(usagef("%s takes one subscription name", verb))
	}
	cl, err := c.client()
	if err != nil {
		return c.fail(err)
	}
	var res struct {
		Subscription subscriptionJSON `json:"subscription"`
	}
	raw, err := cl.postJSON(ctx, "/v1/subscriptions/"+url.PathEscape(pos[0])+":"+verb, nil, &res)
	if err != nil {
		return c.fail(err)
	}
	if c.json {
		return c.done(writeJSON(stdout, raw))
	}
	state := "resumed"
	if res.Subscription.Paused {
		state = "paused (cluster-wide; its backlog is kept)"
	}
	fmt.Fprintf(stdout, "%s %s, backlog %d\n", strings.TrimSpace(res.Subscription.Name), state, res.Subscription.Backlog)
	return ExitOK
}
