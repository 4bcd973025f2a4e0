package mesh

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// scrape reads GET /metrics into series (name{labels} as the exposition
// writes it, labels sorted) → value.
func (r *running) scrape(t *testing.T) map[string]float64 {
	t.Helper()
	resp, err := http.Get(r.base + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /metrics: %d %s", resp.StatusCode, b)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// /metrics after known traffic: ingest outcomes, appends, deliveries per
// subscription, attempt latencies, dead letters, backlog and health, and each
// service's own counters, all in one scrape of the all-in-one process.
func TestMeshMetrics(t *testing.T) {
	r := startMesh(t)

	// Traffic: a user twice (accepted, duplicate), a forged request, an order
	// that completes (a shipment, its confirmation email) and one that orders
	// refuses for good (a dead letter).
	user := tableEvent("m-user", "users", "INSERT", "null", userRow(60, "lin@example.com", "Lin"))
	r.hasura(t, user, nil)
	if got := r.hasura(t, user, nil); got["status"] != "duplicate" {
		t.Fatalf("second send: %v", got)
	}
	req, _ := http.NewRequest(http.MethodPost, r.base+"/hooks/hasura", strings.NewReader(user))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Hasura-Webhook-Secret", "not-the-secret")
	if status, out := do(t, req); status != http.StatusUnauthorized {
		t.Fatalf("forged request: %d %v", status, out)
	}
	r.waitDelivered(t, "m-user", "email", "analytics")
	order := `{"id":9060,"customer_id":60,"status":"%s","items":[{"sku":"MUG-LOGO","quantity":1,"price":12.5}],"total":12.5}`
	r.hasura(t, tableEvent("m-order", "orders", "UPDATE", fmt.Sprintf(order, "pending"), fmt.Sprintf(order, "completed")), nil)
	r.waitDelivered(t, "m-order", "orders", "analytics")
	// Last, so that the orders subscription's last outcome is a dead letter.
	r.hasura(t, tableEvent("m-bad", "orders", "INSERT", "null", `{"id":9061,"status":"pending","items":[],"total":0}`), nil)
	eventually(t, "m-bad dead-lettered", func() string {
		if s := r.deliveryStates(t, "m-bad"); s["orders"] != "DELIVERY_STATE_DEAD" {
			return fmt.Sprint(s)
		}
		return ""
	})
	eventually(t, "order confirmation sent", func() string {
		for _, m := range r.messages(t, "") {
			if m["event_type"] == "orders.shipment.created" && m["status"] == "MESSAGE_STATUS_SENT" {
				return ""
			}
		}
		return fmt.Sprint(r.messages(t, ""))
	})

	exact := map[string]float64{
		`hookmesh_ingest_requests_total{outcome="accepted",source="hasura"}`:           3,
		`hookmesh_ingest_requests_total{outcome="duplicate",source="hasura"}`:          1,
		`hookmesh_ingest_requests_total{outcome="signature_mismatch",source="hasura"}`: 1,
		// Appends also count the follow-up event orders published and the
		// fulfillment webhook that came back through the standard source.
		`hookmesh_eventlog_appends_total{result="accepted",source="hasura"}`:                             3,
		`hookmesh_eventlog_appends_total{result="duplicate",source="hasura"}`:                            1,
		`hookmesh_eventlog_appends_total{result="accepted",source="orders"}`:                             1,
		`hookmesh_eventlog_appends_total{result="accepted",source="standard"}`:                           1,
		`hookmesh_eventlog_append_duration_seconds_count{result="duplicate"}`:                            1,
		`hookmesh_dispatch_deliveries_total{outcome="delivered",subscription="email"}`:                   2, // welcome, confirmation
		`hookmesh_dispatch_deliveries_total{outcome="delivered",subscription="analytics"}`:               3, // user, both orders events
		`hookmesh_dispatch_deliveries_total{outcome="delivered",subscription="orders"}`:                  1,
		`hookmesh_dispatch_deliveries_total{outcome="dead",subscription="orders"}`:                       1,
		`hookmesh_dispatch_dead_letters_total{reason="terminal",subscription="orders"}`:                  1,
		`hookmesh_dispatch_attempt_duration_seconds_count{code="OK",subscription="email"}`:               2,
		`hookmesh_dispatch_attempt_duration_seconds_count{code="InvalidArgument",subscription="orders"}`: 1,
		`hookmesh_email_send_attempts_total{result="sent",transport="outbox"}`:                           2,
		`hookmesh_email_send_attempts_total{result="unavailable",transport="outbox"}`:                    0,
		`hookmesh_analytics_events_total{result="tracked"}`:                                              3,
		`hookmesh_orders_shipments_total`:                                                                1,
		`hookmesh_orders_stock_insufficient_total`:                                                       0,
		`hookmesh_dispatch_subscription_health{health="degraded",subscription="orders"}`:                 1,
		// Everything owed is done once the confirmation was sent.
		`hookmesh_pending_work_items{queue="send",service="email"}`:                  0,
		`hookmesh_pending_work_items{queue="publish",service="orders"}`:              0,
		`hookmesh_pending_work_oldest_age_seconds{queue="publish",service="orders"}`: 0,
	}
	present := []string{
		`hookmesh_eventlog_append_duration_seconds_bucket{result="accepted",le="+Inf"}`,
		`hookmesh_dispatch_delivery_lag_seconds_count{subscription="email"}`,
		`hookmesh_dispatch_backlog{subscription="email"}`,
		`hookmesh_dispatch_oldest_undelivered_age_seconds{subscription="email"}`,
		`hookmesh_analytics_batch_commit_seconds_count`,
		`hookmesh_pending_work_items{queue="fulfillment",service="orders"}`,
		`go_goroutines`, // runtime metrics, once, from the gateway's registry
	}
	var got map[string]float64
	// Counters settle after the deliveries' bookkeeping: poll the scrape.
	eventually(t, "metrics", func() string {
		got = r.scrape(t)
		for k, v := range exact {
			if got[k] != v {
				return fmt.Sprintf("%s = %v, want %v", k, got[k], v)
			}
		}
		for _, k := range present {
			if _, ok := got[k]; !ok {
				return "no " + k
			}
		}
		return ""
	})
	// The analytics subscription was only ever delivered to: healthy or, before
	// its first health check, unknown; never degraded.
	if got[`hookmesh_dispatch_subscription_health{health="degraded",subscription="analytics"}`] != 0 ||
		got[`hookmesh_dispatch_subscription_health{health="unhealthy",subscription="analytics"}`] != 0 {
		t.Errorf("analytics health: %v", got)
	}
}
