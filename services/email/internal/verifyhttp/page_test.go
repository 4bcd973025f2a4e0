package verifyhttp_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/hookmesh/hookmesh/platform/restgw"
	"github.com/hookmesh/hookmesh/services/email/internal/verifyhttp"
)

// fakeAPI answers POST /v1/email/verify like the REST API and counts calls.
type fakeAPI struct {
	calls  int
	tokens []string
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.calls++
	var in struct{ Token string }
	_ = json.NewDecoder(r.Body).Decode(&in)
	tok := in.Token
	f.tokens = append(f.tokens, tok)
	switch {
	case r.Method != http.MethodPost || r.URL.Path != verifyhttp.Path || r.Header.Get("Content-Type") != "application/json":
		restgw.WriteError(w, http.StatusNotFound, "not_found", "no route")
	case tok == "good":
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"userId":"9","email":"new@example.com"}`)
	case tok == "old":
		restgw.WriteError(w, http.StatusBadRequest, "failed_precondition", "token expired")
	case tok == "down":
		restgw.WriteError(w, http.StatusInternalServerError, "internal", "internal error")
	default:
		restgw.WriteError(w, http.StatusBadRequest, "invalid_argument", "bad signature")
	}
}

// Issue 17: mail link scanners confirmed addresses by following the GET.
func TestGetChangesNothing(t *testing.T) {
	api := &fakeAPI{}
	srv := httptest.NewServer(verifyhttp.Page(api))
	defer srv.Close()
	for _, tok := range []string{"good", `"><script>alert(1)</script>`, ""} {
		resp, err := http.Get(srv.URL + verifyhttp.Path + "?token=" + url.QueryEscape(tok))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("GET %q: %d %s", tok, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if strings.Contains(string(body), "<script>") {
			t.Fatalf("GET %q: token not escaped: %s", tok, body)
		}
		if tok == "good" && !strings.Contains(string(body), `<input type="hidden" name="token" value="good">`) {
			t.Fatalf("GET: no button form: %s", body)
		}
		if resp.Header.Get("Referrer-Policy") != "no-referrer" || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
			t.Errorf("GET: headers %v", resp.Header)
		}
	}
	if api.calls != 0 {
		t.Fatalf("GET reached the API %d times", api.calls)
	}
}

func TestPostConfirms(t *testing.T) {
	api := &fakeAPI{}
	srv := httptest.NewServer(verifyhttp.Page(api))
	defer srv.Close()
	for _, tc := range []struct {
		token, want string
		status      int
	}{
		{"good", "Address confirmed", 200},
		{"old", "expired", 400},
		{"forged", "not valid", 400},
		{"down", "Something went wrong", 500},
		{"", "not valid", 400},
	} {
		resp, err := http.PostForm(srv.URL+verifyhttp.Path, url.Values{"token": {tc.token}})
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.want) {
			t.Errorf("POST %q: %d %s, want %d %q", tc.token, resp.StatusCode, body, tc.status, tc.want)
		}
	}
	if strings.Join(api.tokens, ",") != "good,old,forged,down" {
		t.Errorf("API saw tokens %v", api.tokens)
	}
	// API clients POST JSON and get the API's JSON answer.
	resp, err := http.Post(srv.URL+verifyhttp.Path, "application/json", strings.NewReader(`{"token":"good"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" || !strings.Contains(string(body), `"email":"new@example.com"`) {
		t.Fatalf("JSON POST: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	// Other methods are refused.
	req, _ := http.NewRequest(http.MethodDelete, srv.URL+verifyhttp.Path, nil)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("DELETE: %v", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("DELETE: %s, want 405", resp.Status)
	}
}
