package ingest

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/hookmesh/hookmesh/gateway/internal/webhook"
)

// Body limits (issue 17): a slow sender holds a slot and what it sent, nothing more.
const (
	// DefaultBodyTimeout is a route's deadline for its body, from the end of
	// the headers (config.DefaultBodyTimeout).
	DefaultBodyTimeout = 20 * time.Second
	// DefaultMaxBodiesInFlight caps the requests reading or holding a body at
	// once on one handler (one listener); over it: 503 over_capacity. High
	// enough that hundreds of slow connections leave room for real senders.
	DefaultMaxBodiesInFlight = 1024
	// firstChunk is the buffer a body starts with; it doubles as bytes arrive.
	firstChunk = 16 << 10
	// After a 413 the rest of the body is read and dropped, up to lingerBytes
	// within lingerTime, so a client that writes its whole body before
	// reading sees the answer instead of a reset (like nginx's lingering close).
	lingerBytes = 8 << 20
	lingerTime  = 5 * time.Second
)

var (
	errTooLarge    = errors.New("body too large")
	errBodyTimeout = errors.New("body deadline exceeded")
)

// readBody reads at most limit bytes: a declared length over the limit is refused
// unread, a chunked body is read to limit+1 bytes at most. A read past the
// connection's deadline is errBodyTimeout.
func readBody(r *http.Request, limit int) ([]byte, error) {
	if r.ContentLength > int64(limit) {
		return nil, errTooLarge
	}
	n, exact := limit+1, false
	if r.ContentLength >= 0 {
		n, exact = int(r.ContentLength), true
	}
	buf, err := readGrowing(r.Body, n, exact)
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return nil, fmt.Errorf("read body: %w (%w)", errBodyTimeout, err)
	case err != nil:
		return nil, fmt.Errorf("read body: %w", err)
	case len(buf) > limit:
		return nil, errTooLarge
	}
	return buf, nil
}

// readGrowing reads up to n bytes (exactly n when exact) into a buffer that
// starts at firstChunk and doubles when full, never beyond n: memory follows
// the bytes received, not the length a sender declares. On error it returns
// what arrived.
func readGrowing(src io.Reader, n int, exact bool) ([]byte, error) {
	buf := make([]byte, 0, min(n, firstChunk))
	for len(buf) < n {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(n, 2*cap(buf)))
			copy(grown, buf)
			buf = grown
		}
		m, err := src.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err == io.EOF {
			if exact && len(buf) < n {
				return buf, io.ErrUnexpectedEOF
			}
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
	return buf, nil
}

// setBodyDeadline bounds the body's arrival by the route's timeout and the
// answer by the server's default write time after it. A ResponseWriter
// without deadlines (a test recorder) keeps the server's.
func setBodyDeadline(w http.ResponseWriter, timeout, answer time.Duration) {
	rc := http.NewResponseController(w)
	deadline := time.Now().Add(timeout)
	if rc.SetReadDeadline(deadline) == nil {
		_ = rc.SetWriteDeadline(deadline.Add(answer))
	}
}

// lingerAfter413 reports whether the rest of a refused body is worth reading:
// not when the sender waits for 100-continue (reading would invite the body)
// nor when the declared remainder is over lingerBytes anyway.
func lingerAfter413(r *http.Request) bool {
	if strings.EqualFold(r.Header.Get("Expect"), "100-continue") {
		return false
	}
	return r.ContentLength <= lingerBytes
}

// writeTooLarge answers 413 and, when lingerAfter413, flushes the answer and
// drops up to lingerBytes of the body for up to lingerTime before the
// connection closes.
func writeTooLarge(w http.ResponseWriter, r *http.Request, message string) {
	linger := lingerAfter413(r)
	rc := http.NewResponseController(w)
	if linger {
		// Read after writing; and no keep-alive, the body's end is unknown.
		_ = rc.EnableFullDuplex()
		w.Header().Set("Connection", "close")
	}
	writeError(w, http.StatusRequestEntityTooLarge, webhook.CodeBodyTooLarge, message, "")
	if !linger {
		return
	}
	if rc.Flush() != nil {
		return
	}
	_ = rc.SetReadDeadline(time.Now().Add(lingerTime))
	_, _ = io.CopyN(io.Discard, r.Body, lingerBytes)
}
