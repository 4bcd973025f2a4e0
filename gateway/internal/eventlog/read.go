package eventlog

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	eventv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/event/v1"
)

// Read limits.
const (
	DefaultListLimit = 50
	MaxListLimit     = 1000
	// maxListScan bounds the messages one List call reads; a sparse filter may then
	// return a short (even empty) page with a cursor to continue from.
	maxListScan = 10000
	readChunk   = 256
	readBytes   = 4 << 20
)

// Filter selects events for List. Zero fields do not filter.
type Filter struct {
	Source   string    // exact source name
	TypeGlob string    // "*" matches any run of characters, dots included: "github.*"
	Since    time.Time // events stored at or after Since
	Until    time.Time // events stored before Until
	Limit    int       // page size: default 50, at most 1000
	Cursor   string    // from a previous List; empty for the newest page
}

// Get returns the event stored for (source, id) and its stream sequence, or an error
// wrapping ErrNotFound. An empty source looks the id up across all sources; if
// several used it, the newest event wins. Events inside the dedupe horizon are found
// through the index; older or not yet indexed ones by scanning the part of the log
// the index does not cover.
func (l *Log) Get(ctx context.Context, source, id string) (*eventv1.Event, uint64, error) {
	if err := validateID(id); err != nil {
		return nil, 0, err
	}
	if source != "" {
		if err := validateSource(source); err != nil {
			return nil, 0, err
		}
	}
	ctx, cancel := l.opContext(ctx)
	defer cancel()

	ev, seq, err := l.getIndexed(ctx, source, id)
	if !errors.Is(err, ErrNotFound) {
		return ev, seq, err
	}
	// Not indexed (yet). The indexer acknowledges an event only after writing its
	// key, so an event still missing from the index after the ack floor was read lies
	// above that floor: read the floor, look again, then scan above it.
	info, err := l.cons.Info(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: indexer info: %w", ErrUnavailable, err)
	}
	ev, seq, err = l.getIndexed(ctx, source, id)
	if !errors.Is(err, ErrNotFound) {
		return ev, seq, err
	}
	return l.scanFor(ctx, info.AckFloor.Stream, source, id)
}

// getIndexed reads the event the index holds for (source, id), or ErrNotFound.
func (l *Log) getIndexed(ctx context.Context, source, id string) (*eventv1.Event, uint64, error) {
	seq, err := l.indexedSeq(ctx, source, id)
	if err != nil {
		return nil, 0, err
	}
	if seq == 0 {
		return nil, 0, ErrNotFound
	}
	ev, err := l.loadEvent(ctx, seq, source, id)
	return ev, seq, err
}

// indexedSeq returns the sequence the index holds for (source, id), or 0.
func (l *Log) indexedSeq(ctx context.Context, source, id string) (uint64, error) {
	if source != "" {
		seq, _, err := l.lookup(ctx, l.nc, indexKey(source, id))
		return seq, err
	}
	var best uint64
	err := l.directBatch(ctx, l.kvStream, batchRequest{NextFor: l.kvSubject + escapeID(id) + ".*", Batch: 64},
		func(m *storedMsg) bool {
			if m.Header.Get("KV-Operation") == "" {
				if seq, err := strconv.ParseUint(string(m.Data), 10, 64); err == nil {
					best = max(best, seq)
				}
			}
			return true
		})
	return best, err
}

// loadEvent reads the event at seq and checks that it is (source, id).
func (l *Log) loadEvent(ctx context.Context, seq uint64, source, id string) (*eventv1.Event, error) {
	m, err := l.getMsg(ctx, l.streamName, msgGetRequest{Seq: seq})
	if err != nil {
		return nil, err
	}
	if !matchesMsgID(m, source, id) {
		return nil, ErrNotFound
	}
	return decodeEvent(m)
}

// scanFor reads the parts of the log the index does not cover: events above the
// indexer's ack floor and events past the dedupe horizon.
func (l *Log) scanFor(ctx context.Context, floor uint64, source, id string) (*eventv1.Event, uint64, error) {
	filter := l.SubjectFilter()
	if source != "" {
		filter = l.Subject(source)
	}
	var found *storedMsg
	match := func(m *storedMsg) bool {
		if matchesMsgID(m, source, id) {
			found = m
		}
		return true
	}
	if err := l.scan(ctx, floor+1, filter, match); err != nil {
		return nil, 0, err
	}
	// Head past the horizon (index entries expire a horizon after they were written,
	// which is after the event was stored, so a minute of slack covers clock skew).
	if found == nil && (l.cfg.MaxAge < 0 || l.cfg.MaxAge > l.cfg.DedupeHorizon) {
		cutoff := time.Now().Add(-l.cfg.DedupeHorizon + time.Minute)
		err := l.scan(ctx, 1, filter, func(m *storedMsg) bool {
			if m.Time.After(cutoff) {
				return false
			}
			return match(m)
		})
		if err != nil {
			return nil, 0, err
		}
	}
	if found == nil {
		return nil, 0, fmt.Errorf("event %s/%s: %w", source, id, ErrNotFound)
	}
	ev, err := decodeEvent(found)
	return ev, found.Sequence, err
}

// scan calls fn for each message matching filter from seq on, until fn returns false
// or the stream ends.
func (l *Log) scan(ctx context.Context, seq uint64, filter string, fn func(*storedMsg) bool) error {
	for {
		var last uint64
		stop := false
		err := l.directBatch(ctx, l.streamName, batchRequest{Seq: max(seq, 1), NextFor: filter, Batch: readChunk, MaxBytes: readBytes},
			func(m *storedMsg) bool {
				last = m.Sequence
				if !fn(m) {
					stop = true
					return false
				}
				return true
			})
		if err != nil || stop || last == 0 {
			return err
		}
		seq = last + 1
	}
}

// List returns events newest first, one page at a time; pass the returned cursor to
// get the next page (empty when there is none). A page may be short when the filter
// is sparse: keep following the cursor. Since and Until compare with the time the
// log stored the event.
func (l *Log) List(ctx context.Context, f Filter) ([]*eventv1.Event, string, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultListLimit
	}
	limit = min(limit, MaxListLimit)
	filter := l.SubjectFilter()
	if f.Source != "" {
		if err := validateSource(f.Source); err != nil {
			return nil, "", err
		}
		filter = l.Subject(f.Source)
	}
	ctx, cancel := l.opContext(ctx)
	defer cancel()

	si, err := l.stream.Info(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("%w: stream info: %w", ErrUnavailable, err)
	}
	hi, lo := si.State.LastSeq, max(si.State.FirstSeq, 1)
	if f.Cursor != "" {
		c, err := decodeCursor(f.Cursor)
		if err != nil {
			return nil, "", err
		}
		hi = min(hi, c-1)
	}
	if !f.Until.IsZero() {
		if seq, ok, err := l.seqAtTime(ctx, f.Until); err != nil {
			return nil, "", err
		} else if ok {
			hi = min(hi, seq-1)
		}
	}
	if !f.Since.IsZero() {
		seq, ok, err := l.seqAtTime(ctx, f.Since)
		if err != nil {
			return nil, "", err
		}
		if !ok {
			return nil, "", nil
		}
		lo = max(lo, seq)
	}

	var out []*eventv1.Event
	scanned := 0
	for hi >= lo {
		from := lo
		if hi-lo >= readChunk {
			from = hi - readChunk + 1
		}
		var chunk []*storedMsg
		err := l.scan(ctx, from, filter, func(m *storedMsg) bool {
			if m.Sequence > hi {
				return false
			}
			if f.TypeGlob == "" || globMatch(f.TypeGlob, m.Header.Get(HeaderType)) {
				chunk = append(chunk, m)
			}
			return true
		})
		if err != nil {
			return nil, "", err
		}
		scanned += int(hi - from + 1)
		for i := len(chunk) - 1; i >= 0; i-- {
			ev, err := decodeEvent(chunk[i])
			if err != nil {
				l.logger.WarnContext(ctx, "event log holds an undecodable message; skipped", "stream_seq", chunk[i].Sequence, "error", err)
				continue
			}
			out = append(out, ev)
			if len(out) == limit {
				return out, encodeCursor(chunk[i].Sequence), nil
			}
		}
		if from == lo {
			break
		}
		hi = from - 1
		if scanned >= maxListScan {
			return out, encodeCursor(from), nil
		}
	}
	return out, "", nil
}

// seqAtTime returns the first sequence stored at or after t; ok is false when there
// is none.
func (l *Log) seqAtTime(ctx context.Context, t time.Time) (uint64, bool, error) {
	t = t.UTC()
	var seq uint64
	err := l.directBatch(ctx, l.streamName, batchRequest{StartTime: &t, Batch: 1}, func(m *storedMsg) bool {
		seq = m.Sequence
		return false
	})
	return seq, seq > 0, err
}

func encodeCursor(seq uint64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("v1:" + strconv.FormatUint(seq, 10)))
}

func decodeCursor(c string) (uint64, error) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err == nil {
		if rest, ok := strings.CutPrefix(string(raw), "v1:"); ok {
			if seq, err := strconv.ParseUint(rest, 10, 64); err == nil && seq > 0 {
				return seq, nil
			}
		}
	}
	return 0, fmt.Errorf("%w: malformed cursor", ErrInvalid)
}

// globMatch matches s against a pattern where '*' stands for any run of characters
// (dots included) and everything else is literal.
func globMatch(pattern, s string) bool {
	px, sx := 0, 0
	starPx, starSx := -1, 0
	for sx < len(s) {
		switch {
		case px < len(pattern) && pattern[px] == '*':
			starPx, starSx = px, sx
			px++
		case px < len(pattern) && pattern[px] == s[sx]:
			px++
			sx++
		case starPx >= 0:
			px = starPx + 1
			starSx++
			sx = starSx
		default:
			return false
		}
	}
	for px < len(pattern) && pattern[px] == '*' {
		px++
	}
	return px == len(pattern)
}

func matchesMsgID(m *storedMsg, source, id string) bool {
	s, i, ok := splitMsgID(m.Header.Get(jetstream.MsgIDHeader))
	return ok && i == id && (source == "" || s == source)
}

func decodeEvent(m *storedMsg) (*eventv1.Event, error) {
	ev := new(eventv1.Event)
	if err := proto.Unmarshal(m.Data, ev); err != nil {
		return nil, fmt.Errorf("decode event at %d: %w", m.Sequence, err)
	}
	return ev, nil
}

// getMsg reads one message: directly with one replica, through the leader with more
// (a follower may not have the latest writes yet).
func (l *Log) getMsg(ctx context.Context, stream string, req msgGetRequest) (*storedMsg, error) {
	if l.cfg.Replicas > 1 {
		return l.leaderGet(ctx, l.nc, stream, req)
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("encode direct get: %w", err)
	}
	resp, err := l.nc.RequestWithContext(ctx, "$JS.API.DIRECT.GET."+stream, body)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if status := resp.Header.Get("Status"); status != "" {
		if status == "404" {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("%w: direct get: status %s %s", ErrUnavailable, status, resp.Header.Get("Description"))
	}
	return parseDirect(resp)
}

type batchRequest struct {
	Seq       uint64     `json:"seq,omitempty"`
	NextFor   string     `json:"next_by_subj,omitempty"`
	Batch     int        `json:"batch,omitempty"`
	MaxBytes  int        `json:"max_bytes,omitempty"`
	StartTime *time.Time `json:"start_time,omitempty"`
}

// directBatch runs one batched direct get and calls fn for each message until it
// returns false. Replicas answer these, so with replicas > 1 the newest writes may
// be missing for a moment.
func (l *Log) directBatch(ctx context.Context, stream string, req batchRequest, fn func(*storedMsg) bool) error {
	body, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("encode direct get: %w", err)
	}
	inbox := l.nc.NewRespInbox()
	sub, err := l.nc.SubscribeSync(inbox)
	if err != nil {
		return fmt.Errorf("%w: subscribe: %w", ErrUnavailable, err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := l.nc.PublishRequest("$JS.API.DIRECT.GET."+stream, inbox, body); err != nil {
		return fmt.Errorf("%w: direct get: %w", ErrUnavailable, err)
	}
	for {
		resp, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			return fmt.Errorf("%w: direct get: %w", ErrUnavailable, err)
		}
		switch status := resp.Header.Get("Status"); status {
		case "":
		case "204", "404": // end of batch; no messages
			return nil
		default:
			return fmt.Errorf("%w: direct get: status %s %s", ErrUnavailable, status, resp.Header.Get("Description"))
		}
		m, err := parseDirect(resp)
		if err != nil {
			return err
		}
		if !fn(m) {
			return nil
		}
	}
}

func parseDirect(resp *nats.Msg) (*storedMsg, error) {
	seq, err := strconv.ParseUint(resp.Header.Get("Nats-Sequence"), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%w: direct get: bad sequence header: %w", ErrUnavailable, err)
	}
	ts, err := time.Parse(time.RFC3339Nano, resp.Header.Get("Nats-Time-Stamp"))
	if err != nil {
		return nil, fmt.Errorf("%w: direct get: bad time header: %w", ErrUnavailable, err)
	}
	return &storedMsg{Subject: resp.Header.Get("Nats-Subject"), Sequence: seq, Header: resp.Header, Data: resp.Data, Time: ts}, nil
}
