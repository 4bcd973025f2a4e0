package webhook

import (
	"net/url"
	"testing"
)

func TestGitHubNormalize(t *testing.T) {
	src, err := NewGitHub(GitHubConfig{Secrets: []string{githubSecret}, Now: fixedClock})
	if err != nil {
		t.Fatal(err)
	}
	gh := func(ct, event, body string) *Request {
		return newReq("github", ct, []byte(body), "X-GitHub-Event", event,
			"X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958", "X-GitHub-Hook-ID", "109948940",
			"X-Hub-Signature-256", signGitHub(githubSecret, []byte(body)), "X-Hub-Signature", "sha1=00",
			"User-Agent", "GitHub-Hookshot/5b0c2f1")
	}
	const delivery = "72d3162e-cc78-11e3-81ab-4c9367dc0958"
	push := `{"ref":"refs/heads/main","repository":{"full_name":"octocat/Hello-World"},"sender":{"login":"octocat"}}`
	pr := `{"action":"opened","number":1347,"pull_request":{"number":1347,"title":"x"},"repository":{"full_name":"octocat/Hello-World"}}`
	tests := []struct {
		name string
		req  *Request
		want wantEvent
	}{
		{
			name: "push: no action, subject is the repository",
			req:  gh("application/json", "push", push),
			want: wantEvent{id: delivery, typ: "github.push", provider: "github", providerType: "push",
				subject: "octocat/Hello-World", time: testNow,
				headers: map[string]string{"x-github-event": "push", "x-github-delivery": delivery,
					"x-github-hook-id": "109948940", "user-agent": "GitHub-Hookshot/5b0c2f1"}},
		},
		{
			name: "pull_request opened",
			req:  gh("application/json", "pull_request", pr),
			want: wantEvent{id: delivery, typ: "github.pull_request.opened", provider: "github",
				providerType: "pull_request.opened", subject: "octocat/Hello-World/pull/1347"},
		},
		{
			name: "issues opened with non-ASCII text (vector body)",
			req:  gh("application/json", "issues", vectorByID(t, "github-valid-unicode-payload").Request.Body),
			want: wantEvent{id: delivery, typ: "github.issues.opened", provider: "github", subject: "octocat/Hello-World/issues/1347",
				payload: func(t *testing.T, p map[string]any) {
					if got := p["issue"].(map[string]any)["title"]; got != "Fehler beim Öffnen — ошибка 🐛" {
						t.Errorf("title = %q", got)
					}
				}},
		},
		{
			name: "discussion",
			req:  gh("application/json", "discussion", `{"action":"created","discussion":{"number":7},"repository":{"full_name":"o/r"}}`),
			want: wantEvent{id: delivery, typ: "github.discussion.created", provider: "github", subject: "o/r/discussions/7"},
		},
		{
			name: "installation: no repository",
			req:  gh("application/json", "installation", `{"action":"created","installation":{"id":42}}`),
			want: wantEvent{id: delivery, typ: "github.installation.created", provider: "github", subject: "installation/42"},
		},
		{
			name: "organization event",
			req:  gh("application/json", "organization", `{"action":"member_added","organization":{"login":"acme"}}`),
			want: wantEvent{id: delivery, typ: "github.organization.member_added", provider: "github", subject: "acme"},
		},
		{
			name: "form content type: payload=<json>",
			req:  gh("application/x-www-form-urlencoded", "pull_request", "payload="+url.QueryEscape(pr)),
			want: wantEvent{id: delivery, typ: "github.pull_request.opened", provider: "github",
				subject: "octocat/Hello-World/pull/1347", contentType: "application/x-www-form-urlencoded",
				payload: func(t *testing.T, p map[string]any) {
					if p["action"] != "opened" {
						t.Errorf("payload not decoded from the form field: %v", p)
					}
				}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := src.Verify(tt.req, testNow); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			res, err := src.Normalize(tt.req)
			checkEvent(t, tt.req, res, err, tt.want)
		})
	}
}

func TestGitHubPing(t *testing.T) {
	src, err := NewGitHub(GitHubConfig{Secrets: []string{"gw-github-hook-secret-8c1f0b2e"}})
	if err != nil {
		t.Fatal(err)
	}
	v := vectorByID(t, "github-valid-ping-both-headers")
	req := v.request(t, "github")
	if err := src.Verify(req, testNow); err != nil {
		t.Fatal(err)
	}
	res, err := src.Normalize(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Event != nil {
		t.Fatal("ping produced an event")
	}
	if string(res.Reply) != `{"status":"pong"}` || res.ReplyContentType != "application/json" {
		t.Fatalf("reply %q %q", res.Reply, res.ReplyContentType)
	}
	// A ping sent with the form content type is answered the same way.
	form := newReq("github", "application/x-www-form-urlencoded", []byte("payload="+url.QueryEscape(v.Request.Body)), "X-GitHub-Event", "ping")
	if res, err := src.Normalize(form); err != nil || res.Reply == nil {
		t.Fatalf("form ping: %v, %+v", err, res)
	}
}

func TestGitHubNormalizeErrors(t *testing.T) {
	src, err := NewGitHub(GitHubConfig{Secrets: []string{githubSecret}})
	if err != nil {
		t.Fatal(err)
	}
	const form = "application/x-www-form-urlencoded"
	tests := []struct {
		name, ct, body string
		headers        []string
		status         int
		code           string
	}{
		{"no X-GitHub-Event", "application/json", `{}`, []string{"X-GitHub-Delivery", "d"}, 400, CodeInvalidPayload},
		{"no X-GitHub-Delivery", "application/json", `{}`, []string{"X-GitHub-Event", "push"}, 400, CodeInvalidPayload},
		{"not JSON", "application/json", `nope`, []string{"X-GitHub-Event", "push", "X-GitHub-Delivery", "d"}, 400, CodeMalformedJSON},
		{"form without payload", form, `a=b`, []string{"X-GitHub-Event", "push", "X-GitHub-Delivery", "d"}, 400, CodeInvalidPayload},
		{"form with two payloads", form, `payload=%7B%7D&payload=%7B%7D`, []string{"X-GitHub-Event", "push", "X-GitHub-Delivery", "d"}, 400, CodeInvalidPayload},
		{"form payload not JSON", form, `payload=nope`, []string{"X-GitHub-Event", "push", "X-GitHub-Delivery", "d"}, 400, CodeMalformedJSON},
		{"broken form encoding", form, `payload=%zz`, []string{"X-GitHub-Event", "push", "X-GitHub-Delivery", "d"}, 400, CodeInvalidPayload},
		{"xml", "application/xml", `<a/>`, []string{"X-GitHub-Event", "push", "X-GitHub-Delivery", "d"}, 415, CodeUnsupportedMediaType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := src.Normalize(newReq("github", tt.ct, []byte(tt.body), tt.headers...))
			wantError(t, err, tt.status, tt.code)
		})
	}
}
