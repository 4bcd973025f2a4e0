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
func (l *Log) Append(ctx context.Context, ev *eventv1.Event) (AppendResult, error) {
	if err := validateEvent(ev); err != nil {
		return AppendResult{}, err
	}
	if l.closed.Load() {
		return AppendResult{}, fmt.Errorf("append: %w: log closed", ErrUnavailable)
	}
	c := l.pool[l.next.Add(1)%uint32(len(l.pool))]
	if !c.nc.IsConnected() {
		return AppendResult{}, fmt.Errorf("append: %w: not connected to nats", ErrUnavailable)
	}
	bp := l.getBuf()
	defer l.bufs.Put(bp)
	data, err := proto.MarshalOptions{}.MarshalAppend((*bp)[:0], ev)
	if err != nil {
		return AppendResult{}, fmt.Errorf("encode event: %w: %w", ErrInvalid, err)
	}
	*bp = data
	if int64(len(data))+1024 > c.nc.MaxPayload() {
		return AppendResult{}, fmt.Errorf("append: %w: %d bytes encoded, server max_payload %d",
			ErrTooLarge, len(data), c.nc.MaxPayload())
	}
	if err := l.fault(FaultChecked); err != nil {
		return AppendResult{}, err
	}
	msg := &nats.Msg{
		Subject: l.EventSubject(ev.Source, ev.Id),
		Header: nats.Header{
			HeaderType:                          []string{ev.Type},
			jetstream.ExpectedLastSubjSeqHeader: firstOnSubject,
		},
		Data: data,
	}
	ack, err := l.publish(ctx, c.nc, msg)
	if err != nil {
		if seq, dup := storedEarlier(err); dup {
			return AppendResult{Duplicate: true, Seq: seq}, nil
		}
		err = classifyPublish(err)
		if errors.Is(err, ErrFull) {
			l.full.Store(true)
		}
		return AppendResult{}, err
	}
	if ack.Stream != l.streamName {
		return AppendResult{}, fmt.Errorf("append: %w: subject %s is stored by stream %s", ErrConfig, msg.Subject, ack.Stream)
	}
	if err := l.fault(FaultPublished); err != nil {
		return AppendResult{}, err
	}
	if !ack.Duplicate {
		l.full.Store(false)
	}
	return AppendResult{Duplicate: ack.Duplicate, Seq: ack.Sequence}, nil
}

// pubAck is JetStream's answer to a publish.
type pubAck struct {
	Stream    string `json:"stream"`
	Sequence  uint64 `json:"seq"`
	Duplicate bool   `json:"duplicate,omitempty"`
}

// publish sends msg and waits for JetStream's answer, at most Config.Timeout (or
// until ctx's deadline). Like jetstream.PublishMsg it retries "no responders" (a
// stream leader being elected) twice, but it parses the usual answer without
// reflection and needs no per-call context.
func (l *Log) publish(ctx context.Context, nc *nats.Conn, msg *nats.Msg) (pubAck, error) {
	timeout := l.cfg.Timeout
	if d, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(d))
	}
	if err := ctx.Err(); err != nil {
		return pubAck{}, err
	}
	resp, err := nc.RequestMsg(msg, timeout)
	for attempt := 0; errors.Is(err, nats.ErrNoResponders) && attempt < jetstream.DefaultPubRetryAttempts; attempt++ {
		select {
		case <-ctx.Done():
			return pubAck{}, ctx.Err()
		case <-time.After(jetstream.DefaultPubRetryWait):
		}
		resp, err = nc.RequestMsg(msg, timeout)
	}
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
		return fmt.Errorf("%w: nil event", ErrInvalid)
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
		return fmt.Errorf("%w: source must be 1 to %d characters", ErrInvalid, maxSourceLen)
	}
	for i := 0; i < len(source); i++ {
		if !plainByte(source[i]) {
			return fmt.Errorf("%w: source %q may only hold letters, digits, '_' and '-'", ErrInvalid, source)
		}
	}
	return nil
}

func validateID(id string) error { return validateText("id", id, maxIDLen) }

// validateText accepts what travels unchanged as a NATS header value: UTF-8 without
// control characters or surrounding spaces (header parsing trims them).
func validateText(field, s string, limit int) error {
	if s == "" || len(s) > limit {
		return fmt.Errorf("%w: %s must be 1 to %d bytes", ErrInvalid, field, limit)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalid, field)
	}
	if s[0] == ' ' || s[len(s)-1] == ' ' {
		return fmt.Errorf("%w: %s has leading or trailing spaces", ErrInvalid, field)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: %s holds control characters", ErrInvalid, field)
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
