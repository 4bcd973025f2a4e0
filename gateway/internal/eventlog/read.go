package eventlog

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
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
// several used it, the newest event wins. Every event the log holds is found by its
// own subject, without scanning.
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

	var candidates []*storedMsg
	if source != "" {
		m, err := l.getMsg(ctx, l.streamName, msgGetRequest{LastFor: l.EventSubject(source, id)})
		if err != nil {
			return nil, 0, wrapNotFound(err, source, id)
		}
		candidates = append(candidates, m)
	} else {
		// One subject per source that used the id: at most a handful.
		err := l.directBatch(ctx, l.streamName, batchRequest{NextFor: l.subjectRoot + ".*." + eventKey(id), Batch: 64},
			func(m *storedMsg) bool {
				candidates = append(candidates, m)
				return true
			})
		if err != nil {
			return nil, 0, err
		}
	}
	// Newest first; only a message someone else published on an event subject could
	// hold another event, so check what was read.
	slices.SortFunc(candidates, func(a, b *storedMsg) int { return cmp.Compare(b.Sequence, a.Sequence) })
	for _, m := range candidates {
		ev, err := decodeEvent(m)
		if err != nil {
			return nil, 0, err
		}
		if ev.GetId() == id && (source == "" || ev.GetSource() == source) {
			return ev, m.Sequence, nil
		}
	}
	return nil, 0, fmt.Errorf("event %s/%s: %w", source, id, ErrNotFound)
}

func wrapNotFound(err error, source, id string) error {
	if errors.Is(err, ErrNotFound) {
		return fmt.Errorf("event %s/%s: %w", source, id, ErrNotFound)
	}
	return err
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
		filter = l.SourceFilter(f.Source)
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
	return 0, invalid("malformed cursor")
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
