package cli

import (
	"bytes"
	"crypto/rand"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Sample bodies, one directory per source kind: fixtures/<kind>/<name>.json.
//
//go:embed fixtures
var fixtureFS embed.FS

// defaultFixture is what `send <source>` sends without --fixture.
var defaultFixture = map[string]string{
	kindHasura:   "users-insert",
	kindStripe:   "payment_intent.succeeded",
	kindGitHub:   "push",
	kindShopify:  "orders-create",
	kindSlack:    "app_mention",
	kindStandard: "user.created",
}

// fixtureNames lists the fixtures of a kind, sorted.
func fixtureNames(kind string) []string {
	entries, err := fs.ReadDir(fixtureFS, "fixtures/"+kind)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		out = append(out, strings.TrimSuffix(e.Name(), ".json"))
	}
	sort.Strings(out)
	return out
}

func loadFixture(kind, name string) ([]byte, error) {
	if name == "" || strings.ContainsAny(name, `/\`) {
		return nil, usagef("fixture %q: not a fixture name", name)
	}
	b, err := fixtureFS.ReadFile(path.Join("fixtures", kind, name+".json"))
	if err != nil {
		return nil, usagef("no %s fixture %q (have: %s)", kind, name, strings.Join(fixtureNames(kind), ", "))
	}
	return b, nil
}

// fixtureEventHeader is the X-GitHub-Event of a GitHub fixture ("pull_request.opened"
// → "pull_request") or the X-Shopify-Topic of a Shopify one ("orders-create" →
// "orders/create").
func fixtureEventHeader(kind, name string) string {
	switch kind {
	case kindGitHub:
		ev, _, _ := strings.Cut(name, ".")
		return ev
	case kindShopify:
		return strings.Replace(name, "-", "/", 1)
	}
	return ""
}

// freshen gives a fixture body a new identity and current times: the ids that the
// gateway de-duplicates on that live in the body (Hasura's id, Stripe's evt_…,
// Slack's event_id), set to id when given.
func freshen(kind string, body []byte, id string, now time.Time) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber() // Shopify ids do not fit a float64
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("fixture is not a JSON object: %w", err)
	}
	switch kind {
	case kindHasura:
		m["id"] = firstNonEmpty(id, uuid.Must(uuid.NewV7()).String())
		stamp := now.UTC().Format("2006-01-02T15:04:05.000000Z")
		if _, ok := m["scheduled_time"]; ok {
			m["scheduled_time"] = now.UTC().Format(time.RFC3339)
		} else {
			m["created_at"] = stamp
		}
	case kindStripe:
		m["id"] = firstNonEmpty(id, "evt_"+randomToken(24, alnum))
		m["created"] = json.Number(strconv.FormatInt(now.Unix(), 10))
	case kindSlack:
		m["event_id"] = firstNonEmpty(id, "Ev"+randomToken(10, upperAlnum))
		m["event_time"] = json.Number(strconv.FormatInt(now.Unix(), 10))
	case kindStandard:
		m["timestamp"] = now.UTC().Format("2006-01-02T15:04:05.000Z")
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // Slack text holds <@U…> mentions
	if err := enc.Encode(m); err != nil {
		return nil, fmt.Errorf("encode fixture: %w", err)
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// idHeaders sets the identifying headers a sender puts next to the body: GitHub's
// delivery GUID, Shopify's ids, the Standard Webhooks message id; eventHeader is the
// X-GitHub-Event / X-Shopify-Topic.
func idHeaders(kind string, h http.Header, id, eventHeader string, now time.Time) {
	switch kind {
	case kindGitHub:
		id = firstNonEmpty(id, uuid.NewString())
		h.Set("X-GitHub-Event", eventHeader)
		h.Set("X-GitHub-Delivery", id)
		h.Set("X-GitHub-Hook-ID", "1")
	case kindShopify:
		id = firstNonEmpty(id, uuid.NewString())
		h.Set("X-Shopify-Topic", eventHeader)
		h.Set("X-Shopify-Event-Id", id)
		h.Set("X-Shopify-Webhook-Id", uuid.NewString())
		h.Set("X-Shopify-Triggered-At", now.UTC().Format(time.RFC3339Nano))
		h.Set("X-Shopify-Shop-Domain", "hookmesh-demo.myshopify.com")
		h.Set("X-Shopify-API-Version", "2025-01")
	case kindStandard:
		id = firstNonEmpty(id, "msg_"+randomToken(27, alnum))
		h.Set("webhook-id", id)
	}
}

const (
	alnum      = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	upperAlnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
)

// randomToken is n characters drawn uniformly from alphabet (crypto/rand).
func randomToken(n int, alphabet string) string {
	out := make([]byte, n)
	buf := make([]byte, n)
	_, _ = rand.Read(buf) // never fails (crypto/rand panics on an unusable source)
	for i := range out {
		out[i] = alphabet[int(buf[i])%len(alphabet)]
	}
	return string(out)
}
