package eventlog

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
)

// Limits on the identity fields: they travel in the event subject and headers.
const (
	maxSourceLen = 64
	maxIDLen     = 1024
	maxTypeLen   = 256
	maxKeyLen    = 256 // longer escaped ids go into the subject as their SHA-256
)

// AppendResult says what Append did with an event.
type AppendResult struct {
	// Duplicate: the (source, id) was already in the log; nothing was written.
	Duplicate bool
	// Seq is the stream sequence of the stored event (the earlier one for a duplicate).
	Seq uint64
}

// Append stores ev once per (source, id) for as long as the log keeps it (at least
// the dedupe horizon) and returns only after JetStream acknowledged it (Promise 1). A
// re-sent (source, id) answers Duplicate without writing. Errors wrap ErrUnavailable
// or ErrFull when the log cannot take the event now (answer 503), ErrTooLarge or
// ErrInvalid when it never will.
//
// The whole dedupe is one publish: the event goes to its own subject
// <root>.<source>.<key(id)> with Nats-Expected-Last-Subject-Sequence: 0, so the
// stream stores it only if that subject holds no message yet. The check and the
// write are one step inside the server, so concurrent duplicates cannot both pass
// and a crash leaves either no event (the retry is accepted) or the stored event
// (the retry is a duplicate); nothing else is written and nothing needs catching up.
//
// At a leader loss the publish is retried within the budget, each attempt bounded by
// Config.AttemptTimeout (see appendMsg): still the same message, so still at most one
// stored event.
func (l *Log) Append(ctx context.Context, ev *eventv1.Event) (AppendResult, error) {
	if err := validateEvent(ev); err != nil {
		return AppendResult{}, err
	}
	if l.closed.Load() {
		return AppendResult{}, fmt.Errorf("append: %w: log closed", ErrUnavailable)
	}
	bp := l.getBuf()
	defer l.bufs.Put(bp)
	data, err := proto.MarshalOptions{}.MarshalAppend((*bp)[:0], ev)
	if err != nil {
		return AppendResult{}, fmt.Errorf("encode event: %w", &InvalidError{Reason: err.Error(), Err: err})
	}
	*bp = data
	if int64(len(data))+1024 > l.nc.MaxPayload() {
		return AppendResult{}, fmt.Errorf("append: %w: %d bytes encoded, server max_payload %d",
			ErrTooLarge, len(data), l.nc.MaxPayload())
	}
	if err := l.fault(FaultChecked); err != nil {
		return AppendResult{}, err
	}
	msg := l.eventMsg(ev, data)
	res, err := l.appendMsg(ctx, msg, false)
	if err != nil {
		if errors.Is(err, ErrUnavailable) {
			l.lastFail.Store(time.Now().UnixNano())
		}
		return AppendResult{}, err
	}
	l.lastOK.Store(time.Now().UnixNano())
	if err := l.fault(FaultPublished); err != nil {
		return AppendResult{}, err
	}
	return res, nil
}

// eventMsg is the publish of ev, encoded as data: on its own subject, stored only if
// that subject holds nothing yet.
func (l *Log) eventMsg(ev *eventv1.Event, data []byte) *nats.Msg {
	return &nats.Msg{
		Subject: l.EventSubject(ev.Source, ev.Id),
		Header: nats.Header{
			HeaderType:                          []string{ev.Type},
			jetstream.ExpectedLastSubjSeqHeader: firstOnSubject,
		},
		Data: data,
	}
}

// Retry pacing of appendMsg: the wait after an attempt that got no answer it could
// use grows from retryWaitMin to retryWaitMax.
const (
	retryWaitMin = 50 * time.Millisecond
	retryWaitMax = 250 * time.Millisecond
)

// appendMsg publishes msg until JetStream answers or the budget (Config.Timeout, or
// ctx's earlier deadline) ends. Each attempt waits at most Config.AttemptTimeout: a
// request that reached a leader just before it died is never answered, and the
// retry reaches its successor. Every attempt is the same message with
// Nats-Expected-Last-Subject-Sequence: 0, so at most one of them is stored; when a
// retry finds the subject written, ours tells our own earlier attempt from another
// sender's event. sent says that an earlier attempt may already have been stored.
func (l *Log) appendMsg(ctx context.Context, msg *nats.Msg, sent bool) (AppendResult, error) {
	deadline := time.Now().Add(l.cfg.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	var (
		lastErr error
		wait    = retryWaitMin
		offline time.Time // since when no connection of the pool was connected
	)
	for {
		if err := ctx.Err(); err != nil {
			return AppendResult{}, fmt.Errorf("append: %w: %w", ErrUnavailable, err)
		}
		left := time.Until(deadline)
		if left <= 0 {
			break
		}
		nc := l.appendConn()
		if nc == nil {
			lastErr = errNotConnected
			if offline.IsZero() {
				offline = time.Now()
			}
			// A connection to a lost node moves to another within a reconnect
			// wait; none for a whole attempt means no server to fail over to, as
			// with the in-process server gone.
			if l.srv != nil || time.Since(offline) >= l.cfg.AttemptTimeout {
				break
			}
		} else {
			offline = time.Time{}
			ack, err := l.publish(nc, msg, min(left, l.cfg.AttemptTimeout))
			if err == nil {
				if ack.Stream != l.streamName {
					return AppendResult{}, fmt.Errorf("append: %w: subject %s is stored by stream %s", ErrConfig, msg.Subject, ack.Stream)
				}
				if !ack.Duplicate {
					l.full.Store(false)
				}
				return AppendResult{Duplicate: ack.Duplicate, Seq: ack.Sequence}, nil
			}
			if seq, dup := storedEarlier(err); dup {
				if !sent {
					return AppendResult{Duplicate: true, Seq: seq}, nil
				}
				res, oerr := l.ours(ctx, msg, seq, deadline)
				if oerr == nil {
					return res, nil
				}
				err = oerr // could not read it: try again, the answer will be the same
			} else if !retryable(err) {
				err = classifyPublish(err)
				if errors.Is(err, ErrFull) {
					l.full.Store(true)
				}
				return AppendResult{}, err
			}
			sent = sent || mayHaveLanded(err)
			lastErr = err
		}
		pause := min(wait, time.Until(deadline))
		if pause <= 0 {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(pause):
		}
		wait = min(2*wait, retryWaitMax)
	}
	return AppendResult{}, classifyPublish(lastErr)
}

var errNotConnected = errors.New("not connected to nats")

// appendConn returns the next connected connection of the pool, or nil.
func (l *Log) appendConn() *nats.Conn {
	n := uint32(len(l.pool))
	start := l.next.Add(1)
	for i := range n {
		if c := l.pool[(start+i)%n].nc; c.IsConnected() {
			return c
		}
	}
	return nil
}

// ours answers a retry that found the event's subject written at seq. If the stored
// message is byte for byte the event this call sent, an earlier attempt of this call
// was stored and its acknowledgement lost: accepted, not a duplicate. Another
// sender's copy of the same (source, id) differs (its receive time, its trace, a
// sender's retry body), so it is a duplicate. (Two byte-identical events would be
// one event either way: the log holds exactly what this call sent.)
func (l *Log) ours(ctx context.Context, msg *nats.Msg, seq uint64, deadline time.Time) (AppendResult, error) {
	gctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	stored, err := l.leaderGet(gctx, l.nc, l.streamName, msgGetRequest{Seq: seq})
	if err != nil {
		return AppendResult{}, fmt.Errorf("read stored event %d: %w", seq, err)
	}
	if stored.Subject == msg.Subject && bytes.Equal(stored.Data, msg.Data) &&
		stored.Header.Get(HeaderType) == msg.Header.Get(HeaderType) {
		return AppendResult{Seq: seq}, nil
	}
	return AppendResult{Duplicate: true, Seq: seq}, nil
}

// retryable tells a publish failure that a later attempt of the same message may get
// past (no answer, no leader yet, a connection moving to another server, the same
// subject in flight on a clustered leader) from an answer that stays the same
// (full, too large, refused config).
func retryable(err error) bool {
	if c := classifyPublish(err); errors.Is(c, ErrFull) || errors.Is(c, ErrTooLarge) {
		return false // JetStream answers "maximum bytes exceeded" with code 503 too
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant ||
			apiErr.ErrorCode == 10009 || // not the leader (any more)
			apiErr.Code == 503
	}
	switch {
	case errors.Is(err, nats.ErrMaxPayload), errors.Is(err, nats.ErrBadSubject),
		errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, jetstream.ErrInvalidJSAck):
		return false
	}
	return true
}

// mayHaveLanded tells whether a failed attempt may still have been stored: it went
// out and no answer came (timeout, connection lost).
func mayHaveLanded(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return false // the leader answered: this attempt was refused
	}
	return !errors.Is(err, nats.ErrNoResponders) && !errors.Is(err, errNotConnected)
}

// pubAck is JetStream's answer to a publish.
type pubAck struct {
	Stream    string `json:"stream"`
	Sequence  uint64 `json:"seq"`
	Duplicate bool   `json:"duplicate,omitempty"`
}

// publish sends msg once and waits for JetStream's answer, at most timeout. It
// parses the usual answer without reflection and needs no per-call context.
func (l *Log) publish(nc *nats.Conn, msg *nats.Msg, timeout time.Duration) (pubAck, error) {
	resp, err := nc.RequestMsg(msg, timeout)
	if err != nil {
		return pubAck{}, err
	}
	return parsePubAck(resp.Data)
}

// parsePubAck reads {"stream":"S","seq":N} and {…,"duplicate":true} directly and
// hands anything else (errors, a domain) to encoding/json.
func parsePubAck(b []byte) (pubAck, error) {
	if a, ok := fastPubAck(b); ok {
		return a, nil
	}
	var r struct {
		pubAck
		Error *jetstream.APIError `json:"error"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return pubAck{}, fmt.Errorf("%w: %w", jetstream.ErrInvalidJSAck, err)
	}
	if r.Error != nil {
		return pubAck{}, fmt.Errorf("nats: %w", r.Error)
	}
	if r.Stream == "" {
		return pubAck{}, jetstream.ErrInvalidJSAck
	}
	return r.pubAck, nil
}

func fastPubAck(b []byte) (pubAck, bool) {
	var a pubAck
	rest, ok := bytes.CutPrefix(b, []byte(`{"stream":"`))
	if !ok {
		return a, false
	}
	i := bytes.IndexByte(rest, '"')
	if i <= 0 || bytes.IndexByte(rest[:i], '\\') >= 0 {
		return a, false
	}
	a.Stream = string(rest[:i])
	if rest, ok = bytes.CutPrefix(rest[i+1:], []byte(`,"seq":`)); !ok {
		return a, false
	}
	n := 0
	for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
		n++
	}
	seq, err := strconv.ParseUint(string(rest[:n]), 10, 64)
	if err != nil {
		return a, false
	}
	a.Sequence = seq
	switch string(rest[n:]) {
	case "}":
	case `,"duplicate":true}`:
		a.Duplicate = true
	default:
		return a, false
	}
	return a, true
}

// firstOnSubject is the Nats-Expected-Last-Subject-Sequence of a first event.
var firstOnSubject = []string{"0"}

// storedEarlier reports a publish the stream refused because the event's subject
// already holds a message: that message is the earlier event, at seq. ("wrong last
// sequence: N", N > 0. A clustered leader refuses a subject that is still being
// written without a sequence: that earlier append is not acknowledged yet, so it is
// not a duplicate but a 503, and the sender's retry settles it.)
func storedEarlier(err error) (uint64, bool) {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode != jetstream.JSErrCodeStreamWrongLastSequence {
		return 0, false
	}
	rest, ok := strings.CutPrefix(apiErr.Description, "wrong last sequence: ")
	if !ok {
		return 0, false
	}
	seq, err := strconv.ParseUint(rest, 10, 64)
	return seq, err == nil && seq > 0
}

func (l *Log) fault(point string) error {
	if l.cfg.Fault == nil {
		return nil
	}
	if err := l.cfg.Fault(point); err != nil {
		return fmt.Errorf("fault at %s: %w", point, err)
	}
	return nil
}

func (l *Log) getBuf() *[]byte {
	if bp, ok := l.bufs.Get().(*[]byte); ok {
		return bp
	}
	b := make([]byte, 0, 4096)
	return &b
}

// opContext bounds one operation by Config.Timeout unless ctx ends earlier.
func (l *Log) opContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if d, ok := ctx.Deadline(); ok && d.Before(time.Now().Add(l.cfg.Timeout)) {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, l.cfg.Timeout)
}

// classifyPublish maps a publish failure to ErrFull, ErrTooLarge or ErrUnavailable.
func classifyPublish(err error) error {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		desc := apiErr.Description
		switch {
		case apiErr.ErrorCode == jetstream.JSErrCodeStreamMessageExceedsMaximum,
			strings.Contains(desc, "message too large"):
			return fmt.Errorf("append: %w: %w", ErrTooLarge, err)
		case strings.Contains(desc, "maximum bytes exceeded"),
			strings.Contains(desc, "maximum messages exceeded"),
			strings.Contains(desc, "maximum messages per subject exceeded"),
			apiErr.ErrorCode == 10023: // insufficient resources: account or server storage full
			return fmt.Errorf("append: %w: %w", ErrFull, err)
		}
	}
	if errors.Is(err, nats.ErrMaxPayload) {
		return fmt.Errorf("append: %w: %w", ErrTooLarge, err)
	}
	return fmt.Errorf("append: %w: %w", ErrUnavailable, err)
}

type msgGetRequest struct {
	Seq     uint64 `json:"seq,omitempty"`
	LastFor string `json:"last_by_subj,omitempty"`
	NextFor string `json:"next_by_subj,omitempty"`
}

type storedMsg struct {
	Subject  string
	Sequence uint64
	Header   nats.Header
	Data     []byte
	Time     time.Time
}

// leaderGet reads one message through the stream leader ($JS.API.STREAM.MSG.GET).
func (l *Log) leaderGet(ctx context.Context, nc *nats.Conn, stream string, req msgGetRequest) (*storedMsg, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("encode msg get: %w", err)
	}
	resp, err := nc.RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET."+stream, body)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	var out struct {
		Message *struct {
			Subject string    `json:"subject"`
			Seq     uint64    `json:"seq"`
			Hdrs    []byte    `json:"hdrs"`
			Data    []byte    `json:"data"`
			Time    time.Time `json:"time"`
		} `json:"message"`
		Error *jetstream.APIError `json:"error"`
	}
	if err := json.Unmarshal(resp.Data, &out); err != nil {
		return nil, fmt.Errorf("%w: decode msg get: %w", ErrUnavailable, err)
	}
	if out.Error != nil {
		if out.Error.ErrorCode == jetstream.JSErrCodeMessageNotFound {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, out.Error)
	}
	if out.Message == nil {
		return nil, fmt.Errorf("%w: empty msg get response", ErrUnavailable)
	}
	m := &storedMsg{Subject: out.Message.Subject, Sequence: out.Message.Seq, Data: out.Message.Data, Time: out.Message.Time}
	if len(out.Message.Hdrs) > 0 {
		if m.Header, err = nats.DecodeHeadersMsg(out.Message.Hdrs); err != nil {
			return nil, fmt.Errorf("%w: decode headers: %w", ErrUnavailable, err)
		}
	}
	return m, nil
}

func validateEvent(ev *eventv1.Event) error {
	if ev == nil {
		return invalid("nil event")
	}
	if err := validateSource(ev.Source); err != nil {
		return err
	}
	if err := validateID(ev.Id); err != nil {
		return err
	}
	if err := validateText("type", ev.Type, maxTypeLen); err != nil {
		return err
	}
	return nil
}

// validateSource accepts what can be one subject token and one key token.
func validateSource(source string) error {
	if source == "" || len(source) > maxSourceLen {
		return invalid("source must be 1 to %d characters", maxSourceLen)
	}
	for i := 0; i < len(source); i++ {
		if !plainByte(source[i]) {
			return invalid("source %q may only hold letters, digits, '_' and '-'", source)
		}
	}
	return nil
}

func validateID(id string) error { return validateText("id", id, maxIDLen) }

// validateText accepts what travels unchanged as a NATS header value: UTF-8 without
// control characters or surrounding spaces (header parsing trims them).
func validateText(field, s string, limit int) error {
	if s == "" || len(s) > limit {
		return invalid("%s must be 1 to %d bytes", field, limit)
	}
	if !utf8.ValidString(s) {
		return invalid("%s is not valid UTF-8", field)
	}
	if s[0] == ' ' || s[len(s)-1] == ' ' {
		return invalid("%s has leading or trailing spaces", field)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return invalid("%s holds control characters", field)
		}
	}
	return nil
}

func plainByte(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '_' || b == '-'
}

// eventKey is the last subject token of an event: its id escaped so that keys are
// injective, human-readable and valid subject tokens. Escaping keeps [A-Za-z0-9_-]
// and writes every other byte as =XX; an escaped id over maxKeyLen becomes "==" +
// SHA-256 of the id.
func eventKey(id string) string { return escapeID(id) }

func escapeID(id string) string {
	n := 0
	for i := 0; i < len(id); i++ {
		if !plainByte(id[i]) {
			n++
		}
	}
	if len(id)+2*n > maxKeyLen {
		sum := sha256.Sum256([]byte(id))
		return "==" + hex.EncodeToString(sum[:])
	}
	if n == 0 {
		return id
	}
	const digits = "0123456789ABCDEF"
	b := make([]byte, 0, len(id)+2*n)
	for i := 0; i < len(id); i++ {
		c := id[i]
		if plainByte(c) {
			b = append(b, c)
			continue
		}
		b = append(b, '=', digits[c>>4], digits[c&15])
	}
	return string(b)
}
