package browserguard_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hookmesh/hookmesh/platform/browserguard"
)

func TestCrossSite(t *testing.T) {
	srv := httptest.NewServer(browserguard.CrossSite()(http.HandlerFunc(ok)))
	defer srv.Close()
	self := srv.URL // http://127.0.0.1:port
	for _, tc := range []struct {
		name, method string
		headers      map[string]string
		want         int
	}{
		{"no browser headers", http.MethodPost, nil, http.StatusOK},
		{"same origin", http.MethodPost, map[string]string{"Origin": self, "Sec-Fetch-Site": "same-origin"}, http.StatusOK},
		{"same origin without fetch metadata", http.MethodPost, map[string]string{"Origin": self}, http.StatusOK},
		{"typed into the address bar", http.MethodPost, map[string]string{"Sec-Fetch-Site": "none"}, http.StatusOK},
		{"cross-site origin", http.MethodPost, map[string]string{"Origin": "http://evil.example"}, http.StatusForbidden},
		{"cross-site fetch metadata", http.MethodPost, map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"same-site fetch metadata", http.MethodDelete, map[string]string{"Sec-Fetch-Site": "same-site", "Origin": "http://sub.127.0.0.1"}, http.StatusForbidden},
		{"opaque origin", http.MethodPut, map[string]string{"Origin": "null"}, http.StatusForbidden},
		{"cross-site read", http.MethodGet, map[string]string{"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, srv.URL+"/v1/subscriptions/email:pause", strings.NewReader("{}"))
			req.Header.Set("Content-Type", "text/plain")
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			status, code := errorCode(t, req)
			if status != tc.want {
				t.Fatalf("%d, want %d", status, tc.want)
			}
			if status == http.StatusForbidden && code != browserguard.CodeForbiddenCrossSite {
				t.Fatalf("code %q", code)
			}
		})
	}
}
