package browser_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/hookmesh/hookmesh/gateway"
	"github.com/hookmesh/hookmesh/gateway/gatewaytest"
	"github.com/hookmesh/hookmesh/gateway/internal/config"
	consumerv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/consumer/v1"
)

const (
	chromiumPath = "/usr/bin/chromium"
	hasuraSecret = "browser-test-hasura-secret"
	token        = "console-test-token"
)

// browserConsumer is a real EventConsumerService on loopback gRPC serving three
// subscriptions; it refuses the "orders" subscription terminally while failOrders is set.
type browserConsumer struct {
	consumerv1.UnimplementedEventConsumerServiceServer
	failOrders atomic.Bool
	mu         sync.Mutex
	seen       map[string]bool
}

func (c *browserConsumer) Deliver(_ context.Context, req *consumerv1.DeliverRequest) (*consumerv1.DeliverResponse, error) {
	if req.GetSubscription() == "orders" && c.failOrders.Load() {
		return nil, status.Error(codes.FailedPrecondition, "order 1001 references unknown SKU-NOTEBOOK")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	k := req.GetSubscription() + "/" + req.GetEvent().GetSource() + "/" + req.GetEvent().GetId()
	if c.seen[k] {
		return nil, status.Error(codes.AlreadyExists, "seen before")
	}
	c.seen[k] = true
	return &consumerv1.DeliverResponse{}, nil
}

const browserConfig = `
sources:
  - {name: hasura, kind: hasura, header: X-Hasura-Webhook-Secret, secrets_from_env: [HASURA_WEBHOOK_SECRET]}
subscriptions:
  - name: email
    target: ADDR
    events: ["hasura.public.users.*"]
    retry: {policy: exponential, max_attempts: 5, initial: 1s, max: 10s}
    timeout: 5s
  - name: analytics
    target: ADDR
    events: ["hasura.*"]
    retry: {policy: fixed, num_retries: 5, interval: 10s}
    timeout: 5s
  - name: orders
    target: ADDR
    events: ["hasura.public.orders.*", "hasura.public.inventory.*"]
    retry: {policy: fixed, num_retries: 0}
    timeout: 5s
`

// startBrowserGateway runs a real gateway (event log, dispatcher, REST, console)
// with a token on loopback, delivering to c.
func startBrowserGateway(t *testing.T, c *browserConsumer) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	consumerv1.RegisterEventConsumerServiceServer(srv, c)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)

	file, err := config.Parse([]byte(strings.ReplaceAll(browserConfig, "ADDR", lis.Addr().String())))
	if err != nil {
		t.Fatal(err)
	}
	httpLis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	g, err := gateway.New(ctx, gateway.Config{DataDir: t.TempDir(), AdminToken: token}, gateway.Deps{
		Logger:         slog.New(slog.DiscardHandler),
		TracerProvider: sdktrace.NewTracerProvider(), // attempts get trace ids
		File:           file,
		HTTPListener:   httpLis,
		Secrets: func(name string) (string, bool, error) {
			return hasuraSecret, name == "HASURA_WEBHOOK_SECRET", nil
		},
	})
	if err != nil {
		cancel()
		t.Fatalf("gateway.New: %v", err)
	}
	t.Cleanup(cancel)
	return gatewaytest.Run(t, g)
}

// postHasura sends a Hasura event trigger body with the shared secret.
func postHasura(t *testing.T, base, id, table, op, oldRow, newRow string) {
	t.Helper()
	body := fmt.Sprintf(`{"id":%q,"created_at":%q,"trigger":{"name":"%s_all"},"table":{"schema":"public","name":%q},`+
		`"event":{"op":%q,"session_variables":{"x-hasura-role":"admin"},"data":{"old":%s,"new":%s}},"delivery_info":{"current_retry":0,"max_retries":3}}`,
		id, time.Now().UTC().Format("2006-01-02T15:04:05.000000Z"), table, table, op, oldRow, newRow)
	req, err := http.NewRequest(http.MethodPost, base+"/hooks/hasura", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Hasura-Webhook-Secret", hasuraSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("webhook %s: status %d", id, resp.StatusCode)
	}
}

// TestConsoleInBrowser drives the console in headless Chromium: log in with the
// token, see an event arrive live, find its dead letter, replay it and see it
// delivered, pause and resume a subscription. UPDATE_SCREENSHOTS=1 saves the pages
// under docs/img/.
func TestConsoleInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode: skipping the browser test")
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing; CI installs Debian's chromium (.ci/run)", chromiumPath)
		}
		t.Skipf("%s is missing: apt-get install -y chromium to run the browser test", chromiumPath)
	}
	consumer := &browserConsumer{seen: map[string]bool{}}
	base := startBrowserGateway(t, consumer)

	// History that the live stream replays on connect.
	postHasura(t, base, "e2a1c4d0-users-42", "users", "INSERT", "null",
		`{"id":42,"email":"ada@example.com","name":"Ada Lovelace","registration_method":"email"}`)
	postHasura(t, base, "e2a1c4d1-inventory", "inventory", "INSERT", "null",
		`{"sku":"SKU-NOTEBOOK","name":"Dotted notebook","quantity":100}`)
	postHasura(t, base, "e2a1c4d2-orders-1001", "orders", "INSERT", "null",
		`{"id":1001,"customer_id":42,"status":"pending","items":[{"sku":"SKU-NOTEBOOK","quantity":2,"price":12.5}],"total":25}`)

	ctx, cancel := context.WithTimeout(t.Context(), 45*time.Second)
	defer cancel()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("force-color-profile", "srgb"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 820),
	)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()

	step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(sel), chromedp.NodeVisible))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	shot := func(name string, full bool) {
		t.Helper()
		if os.Getenv("UPDATE_SCREENSHOTS") != "1" {
			return
		}
		step("let the page settle", chromedp.Sleep(300*time.Millisecond))
		capture := chromedp.CaptureScreenshot()
		if full {
			capture = chromedp.FullScreenshot(100) // 100: PNG
		}
		png, err := chromedp.Run(bctx, capture)
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		dir := filepath.Join("..", "..", "..", "..", "docs", "img")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote docs/img/%s", name)
	}
	go2 := func(hash string) {
		t.Helper()
		step("go to "+hash, chromedp.Evaluate[chromedp.Void](fmt.Sprintf("location.hash = %q", hash)))
	}

	// Log in: the token becomes an HttpOnly session cookie.
	step("open the console", chromedp.Navigate(base+"/console/"), chromedp.WaitVisible(chromedp.ID("token")))
	step("log in", chromedp.SendKeys(chromedp.ID("token"), token), chromedp.Click(chromedp.CSS(`#login button[type=submit]`)))
	step("history from the live stream", chromedp.WaitVisible(chromedp.CSS(`#events-body tr[data-id="e2a1c4d2-orders-1001"]`)))
	if cookies, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.cookie`)); err != nil || strings.Contains(cookies, "hookmesh_console") {
		t.Errorf("the session cookie is readable from JavaScript (%q, %v)", cookies, err)
	}
	if live := text("#live"); live != "live" {
		t.Errorf("live indicator %q", live)
	}

	// A new event appears without a reload; its delivery to orders fails terminally.
	consumer.failOrders.Store(true)
	const orderID = "e2a1c4d3-orders-1001-completed"
	postHasura(t, base, orderID, "orders", "UPDATE",
		`{"id":1001,"customer_id":42,"status":"pending","items":[{"sku":"SKU-NOTEBOOK","quantity":2,"price":12.5}],"total":25}`,
		`{"id":1001,"customer_id":42,"status":"completed","items":[{"sku":"SKU-NOTEBOOK","quantity":2,"price":12.5}],"total":25}`)
	row := fmt.Sprintf(`#events-body tr[data-id=%q]`, orderID)
	step("the event arrives live", chromedp.WaitVisible(chromedp.CSS(row)))
	if got := text(row); !strings.Contains(got, "hasura.public.orders.update") || !strings.Contains(got, "public.orders/1001") {
		t.Errorf("live row %q", got)
	}
	shot("console-events.png", false)

	// Its dead letter, replayed from the console once the consumer accepts it.
	go2("#/deadletters")
	dl := fmt.Sprintf(`tr[data-event-id=%q]`, orderID)
	step("the dead letter is listed", chromedp.WaitVisible(chromedp.CSS(dl)))
	if got := text(dl); !strings.Contains(got, "orders") || !strings.Contains(got, "FAILED_PRECONDITION") || !strings.Contains(got, "unknown SKU-NOTEBOOK") {
		t.Errorf("dead letter row %q", got)
	}
	shot("console-deadletters.png", false)
	consumer.failOrders.Store(false)
	step("replay it", chromedp.Click(chromedp.CSS(dl+" button.primary")))
	step("replay notice", chromedp.WaitVisible(chromedp.CSS(`#notice.notice:not(.error):not(.hidden)`)))
	if got := text("#notice"); got != "Replay queued to orders." {
		t.Errorf("notice %q", got)
	}

	// The event page shows the failed attempt, then the delivered replay.
	go2("#/events/hasura/" + orderID)
	card := `.delivery[data-subscription="orders"]`
	if err := chromedp.Do(bctx, chromedp.WaitVisible(chromedp.CSS(card+" .badge.ok"))); err != nil {
		// Log what the API says, to tell a page fault from a delivery fault.
		req, _ := http.NewRequest("GET", base+"/v1/events/"+orderID+"?source=hasura", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, rerr := http.DefaultClient.Do(req)
		if rerr == nil {
			b, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			t.Logf("event: %s", b)
		}
		t.Fatalf("delivered after the replay: %v", err)
	}
	got := text(card)
	for _, want := range []string{"delivered", "FAILED_PRECONDITION", "unknown SKU-NOTEBOOK", "OK", "replay"} {
		if !strings.Contains(got, want) {
			t.Errorf("orders delivery card lacks %q: %q", want, got)
		}
	}
	if !regexp.MustCompile(`\b[0-9a-f]{32}\b`).MatchString(got) {
		t.Errorf("orders delivery card shows no trace id: %q", got)
	}
	if body := text("#original-body"); !strings.Contains(body, `"status": "completed"`) {
		t.Errorf("original body %q", body)
	}
	if norm := text("#normalised"); !strings.Contains(norm, `"hasura_table"`) || strings.Contains(norm, "original_body") {
		t.Errorf("normalised event %q", norm)
	}
	shot("console-event.png", true)

	// Pause a subscription: its backlog grows; resume it: delivered.
	go2("#/subscriptions")
	analytics := `tr[data-name="analytics"]`
	step("subscriptions", chromedp.WaitVisible(chromedp.CSS(analytics+" button")))
	step("pause analytics", chromedp.Click(chromedp.CSS(analytics+" button")), chromedp.WaitVisible(chromedp.CSS(analytics+" .badge.warn")))
	postHasura(t, base, "e2a1c4d4-users-43", "users", "INSERT", "null",
		`{"id":43,"email":"grace@example.com","name":"Grace Hopper","registration_method":"github"}`)
	step("backlog while paused", chromedp.Poll[chromedp.Void](`(() => { const c = document.querySelector('tr[data-name="analytics"] td.num'); return !!c && c.textContent !== '0'; })()`, chromedp.WithPollingInterval(100*time.Millisecond)))
	if got := text(analytics); !strings.Contains(got, "paused") {
		t.Errorf("analytics row %q", got)
	}
	shot("console-subscriptions.png", false)
	step("resume analytics", chromedp.Click(chromedp.CSS(analytics+" button")),
		chromedp.WaitVisible(chromedp.CSS(analytics+" .badge.ok")))
	step("backlog drained", chromedp.Poll[chromedp.Void](`(() => { const c = document.querySelector('tr[data-name="analytics"] td.num'); return !!c && c.textContent === '0'; })()`, chromedp.WithPollingInterval(100*time.Millisecond)))
}
