package console

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestValidSession(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	good := sessionValue("tok", now.Add(time.Hour))
	exp, mac, _ := strings.Cut(strings.TrimPrefix(good, "v1."), ".")
	tests := []struct {
		name  string
		token string
		value string
		want  bool
	}{
		{"valid", "tok", good, true},
		{"other token", "tok2", good, false},
		{"expired", "tok", sessionValue("tok", now.Add(-time.Second)), false},
		{"expires now", "tok", sessionValue("tok", now), false},
		{"extended expiry", "tok", "v1." + "1900000000." + mac, false},
		{"tampered mac", "tok", "v1." + exp + "." + strings.ToUpper(mac), false},
		{"other version", "tok", "v2." + exp + "." + mac, false},
		{"no mac", "tok", "v1." + exp, false},
		{"not a number", "tok", "v1.soon." + mac, false},
		{"empty", "tok", "", false},
		{"no token configured", "", sessionValue("", now.Add(time.Hour)), false},
		{"the token itself", "tok", "tok", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := validSession(tc.token, tc.value, now); got != tc.want {
				t.Errorf("validSession = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestAuth(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	cookie := &http.Cookie{Name: CookieName, Value: sessionValue("s3cret", now.Add(time.Hour))}
	stale := &http.Cookie{Name: CookieName, Value: sessionValue("s3cret", now.Add(-time.Minute))}
	tests := []struct {
		name     string
		token    string
		method   string
		cookie   *http.Cookie
		header   map[string]string
		wantAuth string // Authorization seen by the next handler; "-" = not called
		status   int
	}{
		{"no token configured passes untouched", "", "POST", nil, nil, "", 200},
		{"cookie on GET becomes bearer", "s3cret", "GET", cookie, nil, "Bearer s3cret", 200},
		{"cookie on POST from same origin", "s3cret", "POST", cookie, map[string]string{"Origin": "http://gw.test"}, "Bearer s3cret", 200},
		{"cookie on POST with Sec-Fetch-Site same-origin", "s3cret", "POST", cookie, map[string]string{"Sec-Fetch-Site": "same-origin"}, "Bearer s3cret", 200},
		{"cookie on POST from another origin", "s3cret", "POST", cookie, map[string]string{"Origin": "http://evil.test"}, "-", 403},
		{"cookie on POST cross-site", "s3cret", "POST", cookie, map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "http://gw.test"}, "-", 403},
		{"cookie on POST same-site other host", "s3cret", "POST", cookie, map[string]string{"Sec-Fetch-Site": "same-site"}, "-", 403},
		{"cookie on POST without Origin", "s3cret", "POST", cookie, nil, "-", 403},
		{"cookie on DELETE with null origin", "s3cret", "DELETE", cookie, map[string]string{"Origin": "null"}, "-", 403},
		{"stale cookie is ignored", "s3cret", "GET", stale, nil, "", 200},
		{"explicit bearer wins over cookie", "s3cret", "POST", cookie, map[string]string{"Authorization": "Bearer other"}, "Bearer other", 200},
		{"no cookie passes untouched", "s3cret", "GET", nil, nil, "", 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			seen := "-"
			next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen = r.Header.Get("Authorization")
			})
			req := httptest.NewRequest(tc.method, "http://gw.test/v1/subscriptions/a:pause", nil)
			if tc.cookie != nil {
				req.AddCookie(tc.cookie)
			}
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			authAt(tc.token, func() time.Time { return now })(next).ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Errorf("status = %d, want %d (%s)", rec.Code, tc.status, rec.Body.String())
			}
			if seen != tc.wantAuth {
				t.Errorf("next saw Authorization %q, want %q", seen, tc.wantAuth)
			}
			if tc.status == 403 && !strings.Contains(rec.Body.String(), `"code":"cross_origin"`) {
				t.Errorf("body = %s, want error code cross_origin", rec.Body.String())
			}
		})
	}
}
