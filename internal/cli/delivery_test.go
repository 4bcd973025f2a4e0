package cli_test

import (
	"github.com/hookmesh/hookmesh/platform/eventually"
	"strings"
	"testing"
	"time"
)

// Dead letters, replays and subscriptions against a gateway whose dispatcher
// delivers to a real consumer over loopback gRPC.
func TestDeliveryCommands(t *testing.T) {
	e := startGateway(t)
	waitState := func(t *testing.T, id, want string) {
		t.Helper()
		eventually.True(t, 30*time.Second, id+" "+want, func() bool { return e.event(t, "hasura", id).state() == want })
	}

	e.sink.failing.Store(true)
	for _, id := range []string{"dl-one", "dl-bulk"} {
		e.send(t, "hasura", "--id", id)
		waitState(t, id, "DELIVERY_STATE_DEAD")
	}

	t.Run("deadletters ls", func(t *testing.T) {
		var res struct {
			DeadLetters []struct {
				Subscription string                  `json:"subscription"`
				Reason       string                  `json:"reason"`
				Event        struct{ ID string }     `json:"event"`
				Attempts     []struct{ Code string } `json:"attempts"`
			} `json:"dead_letters"`
		}
		e.cmd("deadletters", "ls", "--json", "--subscription", "sink").jsonOut(t, &res)
		if len(res.DeadLetters) != 2 {
			t.Fatalf("%d dead letters, want 2: %+v", len(res.DeadLetters), res.DeadLetters)
		}
		for _, d := range res.DeadLetters {
			if d.Subscription != "sink" || len(d.Attempts) != 1 || d.Attempts[0].Code != "FAILED_PRECONDITION" || d.Reason == "" {
				t.Errorf("dead letter %+v", d)
			}
		}
		r := e.cmd("deadletters", "ls")
		if r.code != 0 || !strings.Contains(r.stdout, "dl-one") || !strings.Contains(r.stdout, "FAILED_PRECONDITION") {
			t.Errorf("exit %d stdout %q", r.code, r.stdout)
		}
	})

	e.sink.failing.Store(false)

	t.Run("replay one event", func(t *testing.T) {
		r := e.cmd("replay", "dl-one", "--source", "hasura", "--subscription", "sink")
		if r.code != 0 || !strings.Contains(r.stdout, "replay queued to sink") {
			t.Fatalf("exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
		}
		waitState(t, "dl-one", "DELIVERY_STATE_DELIVERED")
		if n := e.sink.count("dl-one"); n != 1 {
			t.Errorf("sink applied dl-one %d times", n)
		}
		ev := e.event(t, "hasura", "dl-one")
		last := ev.Deliveries[0].Attempts[len(ev.Deliveries[0].Attempts)-1]
		if last.Code != "OK" || !last.Replay {
			t.Errorf("last attempt %+v, want an OK replay", last)
		}
	})

	t.Run("bulk dry run counts and replays nothing", func(t *testing.T) {
		var res struct {
			Replay struct {
				State   string `json:"state"`
				Matched string `json:"matched"`
			} `json:"replay"`
		}
		e.cmd("replay", "--since", "1h", "--dead-letters-only", "--dry-run", "--json").jsonOut(t, &res)
		if res.Replay.State != "REPLAY_STATE_DRY_RUN" || res.Replay.Matched == "0" || res.Replay.Matched == "" {
			t.Errorf("dry run %+v", res.Replay)
		}
		if n := e.sink.count("dl-bulk"); n != 0 {
			t.Errorf("a dry run delivered dl-bulk %d times", n)
		}
		r := e.cmd("replay", "--since", "1h", "--dead-letters-only", "--dry-run")
		if r.code != 0 || !strings.Contains(r.stdout, "events match; nothing was replayed") {
			t.Errorf("exit %d stdout %q", r.code, r.stdout)
		}
	})

	t.Run("bulk replay is followed to the end", func(t *testing.T) {
		r := e.cmd("replay", "--since", "1h", "--source", "hasura", "--dead-letters-only", "--subscription", "sink")
		if r.code != 0 || !strings.Contains(r.stdout, " queued") || !strings.Contains(r.stdout, "done:") {
			t.Fatalf("exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
		}
		if strings.Contains(r.stdout, "\r") || strings.Contains(r.stderr, "[#") {
			t.Errorf("a progress bar was drawn though the output is not a terminal")
		}
		waitState(t, "dl-bulk", "DELIVERY_STATE_DELIVERED")
		if n := e.sink.count("dl-bulk"); n != 1 {
			t.Errorf("sink applied dl-bulk %d times", n)
		}
	})

	t.Run("bulk replay --json prints the finished job", func(t *testing.T) {
		var res struct {
			Replay struct {
				ID    string `json:"id"`
				State string `json:"state"`
			} `json:"replay"`
		}
		e.cmd("replay", "--since", "1h", "--type", "hasura.public.users.*", "--json").jsonOut(t, &res)
		if res.Replay.State != "REPLAY_STATE_DONE" || res.Replay.ID == "" {
			t.Errorf("job %+v", res.Replay)
		}
	})

	t.Run("pause, backlog, resume", func(t *testing.T) {
		type sub struct {
			Name    string `json:"name"`
			Paused  bool   `json:"paused"`
			Backlog string `json:"backlog"`
		}
		var paused struct {
			Subscription sub `json:"subscription"`
		}
		e.cmd("subscriptions", "pause", "sink", "--json").jsonOut(t, &paused)
		if !paused.Subscription.Paused || paused.Subscription.Name != "sink" {
			t.Fatalf("pause answered %+v", paused.Subscription)
		}
		id := e.send(t, "hasura").EventID
		eventually.True(t, 30*time.Second, "backlog while paused", func() bool {
			var ls struct {
				Subscriptions []sub `json:"subscriptions"`
			}
			e.cmd("subscriptions", "ls", "--json").jsonOut(t, &ls)
			return len(ls.Subscriptions) == 1 && ls.Subscriptions[0].Paused && ls.Subscriptions[0].Backlog != "0"
		})
		if n := e.sink.count(id); n != 0 {
			t.Errorf("delivered while paused")
		}
		var ls struct {
			Subscriptions []struct {
				StartFrom string `json:"start_from"`
			} `json:"subscriptions"`
		}
		e.cmd("subscriptions", "ls", "--json").jsonOut(t, &ls)
		if len(ls.Subscriptions) != 1 || ls.Subscriptions[0].StartFrom != "new" {
			t.Errorf("ls --json start_from: %+v", ls.Subscriptions)
		}
		r := e.cmd("subscriptions", "ls")
		if r.code != 0 || !strings.Contains(r.stdout, "sink") || !strings.Contains(r.stdout, "paused") || !strings.Contains(r.stdout, "START") {
			t.Errorf("ls: exit %d stdout %q", r.code, r.stdout)
		}
		r = e.cmd("subscriptions", "resume", "sink")
		if r.code != 0 || !strings.Contains(r.stdout, "sink resumed") {
			t.Errorf("resume: exit %d stdout %q", r.code, r.stdout)
		}
		waitState(t, id, "DELIVERY_STATE_DELIVERED")
	})

	errs := []struct {
		name     string
		args     []string
		code     int
		inStderr string
	}{
		{"pause unknown subscription", []string{"subscriptions", "pause", "nope"}, 1, "not_found"},
		{"pause without a name", []string{"subscriptions", "pause"}, 2, "one subscription name"},
		{"unknown subscriptions subcommand", []string{"subscriptions", "delete", "sink"}, 2, "unknown subcommand"},
		{"replay unknown event", []string{"replay", "no-such-event", "--source", "hasura"}, 1, "not_found"},
		{"replay to unknown subscription", []string{"replay", "dl-one", "--source", "hasura", "--subscription", "nope"}, 1, "not_found"},
		{"replay nothing", []string{"replay"}, 2, "--since for a bulk replay"},
		{"replay two ids", []string{"replay", "a", "b"}, 2, "at most one event id"},
		{"bulk flags with one id", []string{"replay", "dl-one", "--dry-run"}, 2, "for bulk replays"},
		{"bulk with bad --since", []string{"replay", "--since", "last week"}, 2, "is not a time"},
		{"bulk with two subscriptions", []string{"replay", "--since", "1h", "--subscription", "a", "--subscription", "b"}, 2, "one --subscription"},
		{"deadletters without token", []string{"deadletters", "ls", "--token", ""}, 1, "unauthenticated"},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{}, tc.args...)
			if !contains(args, "--token") {
				args = append(args, "--token", adminToken)
			}
			r := run(append(args, "--addr", e.url)...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.inStderr) {
				t.Errorf("exit %d stderr %q, want %d containing %q", r.code, r.stderr, tc.code, tc.inStderr)
			}
		})
	}
}
