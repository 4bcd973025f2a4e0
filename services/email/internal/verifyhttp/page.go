// Package verifyhttp serves what a verification link opens. GET shows a page
// with a button and changes nothing: mail link scanners and previews follow
// every GET. The button POSTs the token back, and only that confirms, through
// the REST API's VerifyEmail (the token stays single-purpose and expiring).
package verifyhttp

import (
	"bytes"
	"encoding/json"
	"html/template"
	"io"
	"mime"
	"net/http"
	"net/url"

	"github.com/hookmesh/hookmesh/platform/restgw"
)

// Path is where verification links point.
const Path = "/v1/email/verify"

// maxForm bounds a POSTed token (a token is well under 1 KiB).
const maxForm = 16 << 10

// Page serves GET (the button) and POST (confirm) at Path. api is the REST
// handler whose POST Path {"token": …} runs VerifyEmail; only POST reaches it.
// A JSON POST gets the API's JSON answer, a form POST a page.
func Page(api http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			render(w, http.StatusOK, page{Token: r.URL.Query().Get("token"), Ask: true})
		case http.MethodPost:
			confirm(w, r, api)
		default:
			w.Header().Set("Allow", "GET, HEAD, POST")
			restgw.WriteError(w, http.StatusMethodNotAllowed, "method_not_allowed", "open the link, then press the button")
		}
	})
}

func confirm(w http.ResponseWriter, r *http.Request, api http.Handler) {
	asJSON := false
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "application/json" {
		asJSON = true
	}
	token, ok := postedToken(w, r, asJSON)
	if !ok {
		if asJSON {
			restgw.WriteError(w, http.StatusBadRequest, "invalid_argument", "token: required")
			return
		}
		render(w, http.StatusBadRequest, page{Outcome: "invalid"})
		return
	}
	body, err := json.Marshal(map[string]string{"token": token})
	if err != nil {
		render(w, http.StatusInternalServerError, page{Outcome: "failed"})
		return
	}
	inner := r.Clone(r.Context())
	inner.Method = http.MethodPost
	inner.URL = &url.URL{Path: Path}
	inner.RequestURI = ""
	inner.Body, inner.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	inner.Header.Set("Content-Type", "application/json")
	inner.Header.Del("Content-Length")
	rec := &recorder{header: http.Header{}, status: http.StatusOK}
	api.ServeHTTP(rec, inner)
	if asJSON {
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.status)
		_, _ = w.Write(rec.body.Bytes())
		return
	}
	var answer struct {
		Error struct{ Code string } `json:"error"`
	}
	_ = json.Unmarshal(rec.body.Bytes(), &answer)
	switch {
	case rec.status == http.StatusOK:
		render(w, http.StatusOK, page{Outcome: "verified"})
	case answer.Error.Code == "failed_precondition": // ErrExpired
		render(w, rec.status, page{Outcome: "expired"})
	case answer.Error.Code == "invalid_argument", answer.Error.Code == "not_found":
		render(w, rec.status, page{Outcome: "invalid"})
	default:
		render(w, rec.status, page{Outcome: "failed"})
	}
}

// postedToken reads the token from a form or a JSON body.
func postedToken(w http.ResponseWriter, r *http.Request, asJSON bool) (string, bool) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if asJSON {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return "", false
		}
		var v struct {
			Token string `json:"token"`
		}
		if err := json.Unmarshal(b, &v); err != nil {
			return "", false
		}
		return v.Token, v.Token != ""
	}
	if err := r.ParseForm(); err != nil {
		return "", false
	}
	t := r.PostForm.Get("token")
	return t, t != ""
}

// recorder keeps the API's answer to turn it into a page.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
	wrote  bool
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	if r.body.Len() > 64<<10 {
		return len(b), nil // an answer to one token is small; drop the rest
	}
	return r.body.Write(b)
}

type page struct {
	Token   string
	Ask     bool   // GET: show the button
	Outcome string // verified, invalid, expired, failed
}

var tmpl = template.Must(template.New("verify").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>Confirm your email address</title>
<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;line-height:1.5}
button{font-size:1rem;padding:.6rem 1.2rem;cursor:pointer}</style></head><body>
{{if .Ask}}{{if .Token}}<h1>Confirm your email address</h1>
<p>Press the button to confirm that this address is yours.</p>
<form method="post" action="verify"><input type="hidden" name="token" value="{{.Token}}"><button type="submit">Confirm my address</button></form>
{{else}}<h1>This link is incomplete</h1><p>Open the whole link from the email.</p>{{end}}
{{else if eq .Outcome "verified"}}<h1>Address confirmed</h1><p>Thank you. You can close this page.</p>
{{else if eq .Outcome "expired"}}<h1>This link has expired</h1><p>Ask for a new verification email.</p>
{{else if eq .Outcome "invalid"}}<h1>This link is not valid</h1><p>Open the whole link from the latest email.</p>
{{else}}<h1>Something went wrong</h1><p>Please try again in a few minutes.</p>{{end}}
</body></html>
`))

func render(w http.ResponseWriter, status int, p page) {
	var b bytes.Buffer
	if err := tmpl.Execute(&b, p); err != nil {
		restgw.WriteError(w, http.StatusInternalServerError, "internal", "rendering failed")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	// The token is in the URL: no referrer, no framing (a hidden button), no scripts.
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}
