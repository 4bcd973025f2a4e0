// Command bench-mesh is the measuring half of scripts/bench-mesh.sh; it reads a
// running `hookmesh serve` through its /metrics and REST API:
//
//	drain    waits until every subscription's backlog (admin API) is 0 and
//	         prints the seconds since -start (unix ms), with dead letters and the
//	         services' pending work (hookmesh_pending_work_items) at that moment
//	latency  reads every event received since -since and prints accept → effect
//	         (received_time → end of the delivered attempt) p50/p99/max per subscription
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	adminv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/admin/v1"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: bench-mesh drain|latency [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	admin := fs.String("admin", "http://127.0.0.1:8090", "the mesh's REST API and /metrics")
	start := fs.Int64("start", 0, "drain: unix ms of the first request")
	timeout := fs.Duration("timeout", 10*time.Minute, "drain: give up after this long")
	since := fs.String("since", "", "latency: RFC 3339 time of the first request")
	_ = fs.Parse(os.Args[2:])
	ctx := context.Background()
	var err error
	switch os.Args[1] {
	case "drain":
		err = drain(ctx, *admin, time.UnixMilli(*start), *timeout)
	case "latency":
		err = latency(ctx, *admin, *since)
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-mesh:", err)
		os.Exit(1)
	}
}

// drain polls the admin API (its backlog is computed per call; the
// hookmesh_dispatch_backlog gauge is refreshed only every few seconds) until every
// subscription's backlog is 0.
func drain(ctx context.Context, admin string, start time.Time, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var subs adminv1.ListSubscriptionsResponse
		if err := getJSON(ctx, admin+"/v1/subscriptions", &subs); err != nil {
			return err
		}
		var backlog, dead int64
		for _, s := range subs.GetSubscriptions() {
			backlog += s.GetBacklog()
			dead += s.GetDeadLetters()
		}
		if backlog == 0 {
			took := time.Since(start)
			m, err := scrape(ctx, admin)
			if err != nil {
				return err
			}
			fmt.Fprintf(os.Stdout, "drained %.3f dead_letters %d pending_work %.0f\n", took.Seconds(), dead, m["hookmesh_pending_work_items"])
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("backlog %d after %s", backlog, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// scrape sums each metric family of /metrics over its labels.
func scrape(ctx context.Context, admin string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, admin+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, rest, _ := strings.Cut(line, " ")
		name, _, _ = strings.Cut(name, "{")
		if i := strings.LastIndex(line, "} "); i >= 0 {
			rest = line[i+2:]
		}
		v, err := strconv.ParseFloat(strings.Fields(rest)[0], 64)
		if err == nil {
			out[name] += v
		}
	}
	return out, sc.Err()
}

// latency prints accept → effect per subscription for every event since since.
func latency(ctx context.Context, admin, since string) error {
	ids, err := listEvents(ctx, admin, since)
	if err != nil {
		return err
	}
	var (
		mu    sync.Mutex
		lat   = map[string][]time.Duration{}
		other = map[string]int{}
		wg    sync.WaitGroup
		errs  []error
		next  = make(chan [2]string)
	)
	for range 8 {
		wg.Go(func() {
			for id := range next {
				var got adminv1.GetEventResponse
				err := getJSON(ctx, admin+"/v1/events/"+url.PathEscape(id[0])+"?source="+url.QueryEscape(id[1]), &got)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				}
				received := got.GetEvent().GetReceivedTime().AsTime()
				for _, d := range got.GetDeliveries() {
					if d.GetState() != adminv1.DeliveryState_DELIVERY_STATE_DELIVERED || len(d.GetAttempts()) == 0 {
						if d.GetState() != adminv1.DeliveryState_DELIVERY_STATE_FILTERED {
							other[d.GetSubscription()+" "+d.GetState().String()]++
						}
						continue
					}
					a := d.GetAttempts()[len(d.GetAttempts())-1]
					end := a.GetStartTime().AsTime().Add(a.GetDuration().AsDuration())
					lat[d.GetSubscription()] = append(lat[d.GetSubscription()], end.Sub(received))
				}
				mu.Unlock()
			}
		})
	}
	for _, id := range ids {
		next <- id
	}
	close(next)
	wg.Wait()
	if len(errs) > 0 {
		return fmt.Errorf("%d of %d events unreadable: %w", len(errs), len(ids), errors.Join(errs[0]))
	}
	fmt.Fprintf(os.Stdout, "events %d\n", len(ids))
	subs := make([]string, 0, len(lat))
	for s := range lat {
		subs = append(subs, s)
	}
	slices.Sort(subs)
	for _, s := range subs {
		l := lat[s]
		slices.Sort(l)
		fmt.Fprintf(os.Stdout, "subscription %s delivered %d p50 %s p99 %s max %s\n", s, len(l), ms(pct(l, 0.5)), ms(pct(l, 0.99)), ms(l[len(l)-1]))
	}
	for k, n := range other {
		fmt.Fprintf(os.Stdout, "not delivered %s %d\n", k, n)
	}
	return nil
}

func listEvents(ctx context.Context, admin, since string) ([][2]string, error) {
	var ids [][2]string
	token := ""
	for {
		var page adminv1.ListEventsResponse
		q := url.Values{"since": {since}, "page_size": {"1000"}, "page_token": {token}}
		if err := getJSON(ctx, admin+"/v1/events?"+q.Encode(), &page); err != nil {
			return nil, err
		}
		for _, e := range page.GetEvents() {
			ids = append(ids, [2]string{e.GetId(), e.GetSource()})
		}
		if token = page.GetNextPageToken(); token == "" {
			return ids, nil
		}
	}
}

func getJSON(ctx context.Context, u string, into proto.Message) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d: %s", u, resp.StatusCode, b)
	}
	return protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(b, into)
}

func pct(sorted []time.Duration, q float64) time.Duration {
	i := int(float64(len(sorted))*q+0.999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func ms(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 1, 64) + "ms" }
