package eventlog

import (
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

// Limits on the identity fields: they travel in headers and index keys.
const (
	maxSourceLen = 64
	maxIDLen     = 1024
	maxTypeLen   = 256
	maxKeyLen    = 256 // longer escaped ids are indexed by their SHA-256
)

// AppendResult says what Append did with an event.
type AppendResult struct {
	// Duplicate: the (source, id) was already in the log; nothing was written.
	Duplicate bool
	// Seq is the stream sequence of the stored event (the earlier one for a duplicate;
	// 0 when the duplicate was found in the index but its sequence is unknown).
	Seq uint64
}

// Append stores ev once per (source, id) within the dedupe horizon and returns only
// after JetStream acknowledged it (Promise 1). A re-sent (source, id) answers
// Duplicate without writing. Errors wrap ErrUnavailable or ErrFull when the log cannot
// take the event now (answer 503), ErrTooLarge or ErrInvalid when it never will.
//
// The path is: look the key up in the index (built from the log, so nothing is
// written before the publish), publish with Nats-Msg-Id (atomic against concurrent
// duplicates inside the window), then the indexer adds the key. A crash between any
// two steps leaves either no event (the retry is accepted) or the event (the retry
// is a duplicate: inside the window by Nats-Msg-Id, after it by the index, which is
// rebuilt from the log before Ready).
func (l *Log) Append(ctx context.Context, ev *eventv1.Event) (AppendResult, error) {
	if err := validateEvent(ev); err != nil {
		return AppendResult{}, err
	}
	if err := l.state.Load().err; err != nil {
		return AppendResult{}, err
	}
	c := l.pool[l.next.Add(1)%uint32(len(l.pool))]
	if !c.nc.IsConnected() {
		return AppendResult{}, fmt.Errorf("append: %w: not connected to nats", ErrUnavailable)
	}
	ctx, cancel := l.opContext(ctx)
	defer cancel()

	seq, found, err := l.lookup(ctx, c.nc, indexKey(ev.Source, ev.Id))
	if err != nil {
		return AppendResult{}, fmt.Errorf("check dedupe index: %w", err)
	}
	if found {
		return AppendResult{Duplicate: true, Seq: seq}, nil
	}
	if err := l.fault(FaultChecked); err != nil {
		return AppendResult{}, err
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
	msg := &nats.Msg{
		Subject: l.subject(ev.Source),
		Header: nats.Header{
			jetstream.MsgIDHeader: []string{ev.Source + "/" + ev.Id},
			HeaderType:            []string{ev.Type},
		},
		Data: data,
	}
	ack, err := c.js.PublishMsg(ctx, msg)
	if err != nil {
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

func (l *Log) subject(source string) string {
	if s, ok := l.subjects.Load(source); ok {
		return s.(string)
	}
	s := l.Subject(source)
	l.subjects.Store(source, s)
	return s
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

// lookup returns the sequence stored under key in the index. With one replica it
// asks the stream directly; with more it asks the leader, since a direct get may be
// served by a follower that has not applied the latest index writes.
func (l *Log) lookup(ctx context.Context, nc *nats.Conn, key string) (uint64, bool, error) {
	subject := l.kvSubject + key
	if l.cfg.Replicas == 1 {
		resp, err := nc.RequestWithContext(ctx, "$JS.API.DIRECT.GET."+l.kvStream+"."+subject, nil)
		if err != nil {
			return 0, false, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		if status := resp.Header.Get("Status"); status != "" {
			if status == "404" {
				return 0, false, nil
			}
			return 0, false, fmt.Errorf("%w: index lookup: status %s %s", ErrUnavailable, status, resp.Header.Get("Description"))
		}
		if op := resp.Header.Get("KV-Operation"); op != "" {
			return 0, false, nil // a delete or purge marker
		}
		seq, _ := strconv.ParseUint(string(resp.Data), 10, 64)
		return seq, true, nil
	}
	m, err := l.leaderGet(ctx, nc, l.kvStream, msgGetRequest{LastFor: subject})
	if errors.Is(err, ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	if m.Header.Get("KV-Operation") != "" {
		return 0, false, nil
	}
	seq, _ := strconv.ParseUint(string(m.Data), 10, 64)
	return seq, true, nil
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

// indexKey is the KV key of (source, id): the escaped id, a dot, the source. The id
// comes first so that Get can find an id across sources with the wildcard "<id>.*".
// Escaping keeps [A-Za-z0-9_-] and writes every other byte as =XX, so keys are
// injective and human-readable; an escaped id over maxKeyLen becomes "==" + SHA-256.
func indexKey(source, id string) string {
	return escapeID(id) + "." + source
}

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

// splitMsgID splits a Nats-Msg-Id "<source>/<id>".
func splitMsgID(msgID string) (source, id string, ok bool) {
	source, id, ok = strings.Cut(msgID, "/")
	return source, id, ok && source != "" && id != ""
}
