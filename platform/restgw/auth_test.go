package restgw_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hookmesh/hookmesh/platform/restgw"
)

func TestBearerAuth(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	tests := []struct {
		name   string
		token  string
		other  string // a second accepted token
		auth   string
		status int
	}{
		{"match", "t0k", "", "Bearer t0k", http.StatusNoContent},
		{"lower-case scheme", "t0k", "", "bearer t0k", http.StatusNoContent},
		{"missing", "t0k", "", "", http.StatusUnauthorized},
		{"wrong", "t0k", "", "Bearer t0K", http.StatusUnauthorized},
		{"longer", "t0k", "", "Bearer t0kk", http.StatusUnauthorized},
		{"no scheme", "t0k", "", "t0k", http.StatusUnauthorized},
		{"other scheme", "t0k", "", "Token t0k", http.StatusUnauthorized},
		{"second token", "t0k", "svc", "Bearer svc", http.StatusNoContent},
		{"neither token", "t0k", "svc", "Bearer t0ksvc", http.StatusUnauthorized},
		// An empty configured token fails closed rather than matching "Bearer ".
		{"empty token, empty bearer", "", "", "Bearer ", http.StatusUnauthorized},
		{"empty token, no header", "", "", "", http.StatusUnauthorized},
		{"empty second token", "t0k", "", "Bearer ", http.StatusUnauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodGet, "/v1/events", nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			restgw.BearerAuth(tc.token, tc.other)(ok).ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Errorf("status = %d, want %d", rec.Code, tc.status)
			}
			if tc.status == http.StatusUnauthorized {
				if want := `{"error":{"code":"unauthenticated","message":"missing or invalid bearer token"}}`; strings.TrimSpace(rec.Body.String()) != want {
					t.Errorf("body = %s, want %s", rec.Body.String(), want)
				}
				if rec.Header().Get("WWW-Authenticate") == "" {
					t.Error("no WWW-Authenticate header")
				}
			}
		})
	}
}
