package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// client talks to the gateway's REST API.
type client struct {
	base  *url.URL
	token string
	http  *http.Client
}

func newClient(addr, token string) (*client, error) {
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	u, err := url.Parse(addr)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, usagef("--addr %q is not an http(s) URL like %s", addr, DefaultAddr)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return &client{base: u, token: token, http: &http.Client{Timeout: 30 * time.Second}}, nil
}

// url joins path (and query) onto the base address.
func (c *client) url(path string, q url.Values) string {
	u := *c.base
	u.Path += path
	if len(q) > 0 {
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// apiError is an error answer of the gateway: {"error":{"code","message"}}.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string {
	msg := fmt.Sprintf("%s: %s (HTTP %d)", e.Code, e.Message, e.Status)
	if e.Status == http.StatusUnauthorized {
		msg += "; set --token or HOOKMESH_ADMIN_TOKEN"
	}
	return msg
}

// connError is a gateway that could not be reached.
type connError struct {
	addr string
	err  error
}

func (e *connError) Error() string {
	return fmt.Sprintf("cannot reach the gateway at %s (is `hookmesh serve` running? set --addr or HOOKMESH_ADDR): %v", e.addr, e.err)
}

func (e *connError) Unwrap() error { return e.err }

// decodeError turns a non-2xx answer into an *apiError.
func decodeError(resp *http.Response, body []byte) error {
	var eb struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &eb) == nil && eb.Error.Code != "" {
		return &apiError{Status: resp.StatusCode, Code: eb.Error.Code, Message: eb.Error.Message}
	}
	text := strings.TrimSpace(string(body))
	if len(text) > 200 {
		text = text[:200] + "…"
	}
	if text == "" {
		text = http.StatusText(resp.StatusCode)
	}
	return &apiError{Status: resp.StatusCode, Code: "http_" + strconv.Itoa(resp.StatusCode), Message: text}
}

// do sends a JSON request and returns the raw JSON answer; a non-2xx answer is an
// *apiError, a transport failure a *connError.
func (c *client) do(ctx context.Context, method, path string, q url.Values, body any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encode request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.url(path, q), rd)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &connError{addr: c.base.String(), err: unwrapURLError(err)}
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, &connError{addr: c.base.String(), err: err}
	}
	if resp.StatusCode/100 != 2 {
		return nil, decodeError(resp, b)
	}
	return b, nil
}

// getJSON / postJSON decode the answer into out (when out is not nil) and return the raw JSON.
func (c *client) getJSON(ctx context.Context, path string, q url.Values, out any) ([]byte, error) {
	return c.call(ctx, http.MethodGet, path, q, nil, out)
}

func (c *client) postJSON(ctx context.Context, path string, body, out any) ([]byte, error) {
	if body == nil {
		body = struct{}{}
	}
	return c.call(ctx, http.MethodPost, path, nil, body, out)
}

func (c *client) call(ctx context.Context, method, path string, q url.Values, body, out any) ([]byte, error) {
	b, err := c.do(ctx, method, path, q, body)
	if err != nil {
		return nil, err
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return nil, fmt.Errorf("decode answer of %s %s: %w", method, path, err)
		}
	}
	return b, nil
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		var op *net.OpError
		if errors.As(ue.Err, &op) {
			return op
		}
		return ue.Err
	}
	return err
}

// int64s come as JSON strings from protojson; num accepts both forms.
type num int64

func (n *num) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "" || s == "null" {
		*n = 0
		return nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("number %s: %w", b, err)
	}
	*n = num(v)
	return nil
}

// protoDuration is a protojson Duration ("1.5s").
type protoDuration string

func (d protoDuration) Std() (time.Duration, bool) {
	if d == "" {
		return 0, false
	}
	v, err := time.ParseDuration(string(d))
	return v, err == nil
}

// writeJSON prints raw JSON compactly on one line.
func writeJSON(w io.Writer, raw []byte) error {
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return fmt.Errorf("answer is not JSON: %w", err)
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

// marshalLine prints v as one JSON line.
func marshalLine(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode output: %w", err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
