package dispatch

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	adminv1 "github.com/hookmesh/hookmesh/gen/go/hookmesh/admin/v1"
)

// Dead letters live in DLQStream as adminv1.DeadLetter messages on
// hookmesh.dlq.<subscription>.open.<id>; resolving or replaying one writes the
// closed copy to ...closed.<id> and deletes the open one. The id is derived from
// (subscription, source, event id, cycle), so a crash between writing the dead
// letter and terminating the message cannot make two (Nats-Msg-Id dedupes it).

var deadIDRE = regexp.MustCompile(`^[0-9a-f]{24}$`)

// Dead letter resolutions.
const (
	resolutionResolved = "resolved"
	resolutionReplayed = "replayed"
)

func deadLetterID(sub, source, id, cycle string) string {
	h := sha256.Sum256([]byte(sub + "\x00" + source + "\x00" + id + "\x00" + cycle))
	return hex.EncodeToString(h[:12])
}

func (d *Dispatcher) deadLetter(ctx context.Context, sub string, j *job, rec *record, reason string) (string, error) {
	id := deadLetterID(sub, j.ev.GetSource(), j.ev.GetId(), j.cycle)
	dl := &adminv1.DeadLetter{
		Id:           id,
		Subscription: sub,
		Event:        j.ev,
		Reason:       reason,
		Attempts:     rec.cycleAttempts(j.cycle),
		CreateTime:   timestamppb.New(d.now()),
	}
	data, err := proto.Marshal(dl)
	if err != nil {
		return "", fmt.Errorf("marshal dead letter: %w", err)
	}
	m := nats.NewMsg(d.l.dlqSubject(sub, "open", id))
	m.Data = data
	m.Header.Set(hdrType, j.ev.GetType())
	if _, err := d.js.PublishMsg(ctx, m, jetstream.WithMsgID("dlq/"+id)); err != nil {
		return "", fmt.Errorf("publish dead letter: %w", err)
	}
	return id, nil
}

// closeDeadLetter writes the closed copy of an open dead letter and deletes the open one.
func (d *Dispatcher) closeDeadLetter(ctx context.Context, raw *jetstream.RawStreamMsg, resolution string) (*adminv1.DeadLetter, error) {
	dl := &adminv1.DeadLetter{}
	if err := proto.Unmarshal(raw.Data, dl); err != nil {
		return nil, fmt.Errorf("decode dead letter: %w", err)
	}
	dl.ResolveTime = timestamppb.New(d.now())
	dl.Resolution = resolution
	data, err := proto.Marshal(dl)
	if err != nil {
		return nil, fmt.Errorf("marshal dead letter: %w", err)
	}
	m := nats.NewMsg(d.l.dlqSubject(dl.GetSubscription(), "closed", dl.GetId()))
	m.Data = data
	m.Header.Set(hdrType, dl.GetEvent().GetType())
	if _, err := d.js.PublishMsg(ctx, m, jetstream.WithMsgID("dlqc/"+dl.GetId())); err != nil {
		return nil, fmt.Errorf("publish closed dead letter: %w", err)
	}
	if err := d.l.dlq.DeleteMsg(ctx, raw.Sequence); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, fmt.Errorf("delete open dead letter: %w", err)
	}
	return dl, nil
}

// findDeadLetter returns the open copy, or else the closed one, of dead letter id.
func (d *Dispatcher) findDeadLetter(ctx context.Context, id string) (raw *jetstream.RawStreamMsg, open bool, err error) {
	for _, state := range []string{"open", "closed"} {
		raw, err := d.l.dlq.GetLastMsgForSubject(ctx, d.l.dlqSubject("*", state, id))
		if err == nil {
			return raw, state == "open", nil
		}
		if !errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil, false, fmt.Errorf("get dead letter: %w", err)
		}
	}
	return nil, false, nil
}

// DeadLetterQuery selects dead letters; zero fields select everything.
type DeadLetterQuery struct {
	Subscription, Source string
	// Type is a glob over the event type (MatchType).
	Type string
	// Since and Until bound the creation time, [Since, Until).
	Since, Until time.Time
	// IncludeResolved lists closed dead letters too.
	IncludeResolved bool
	// PageSize is at most 1000 (0: 50); PageToken continues a previous page.
	PageSize  int
	PageToken string
}

// ListDeadLetters lists dead letters, newest first, filtered as q says; next is
// the token of the following page ("" after the last).
func (d *Dispatcher) ListDeadLetters(ctx context.Context, q DeadLetterQuery) (page []*adminv1.DeadLetter, next string, err error) {
	size, err := pageSize(q.PageSize)
	if err != nil {
		return nil, "", err
	}
	if q.Subscription != "" && !nameRE.MatchString(q.Subscription) {
		return nil, "", invalid("subscription: invalid name")
	}
	var after *dlCursor
	if q.PageToken != "" {
		if after, err = parseDLCursor(q.PageToken); err != nil {
			return nil, "", err
		}
	}
	byID, err := d.collectDeadLetters(ctx, q)
	if err != nil {
		return nil, "", unavailable(err, "list dead letters")
	}
	return pageDeadLetters(byID, after, size)
}

// collectDeadLetters reads the dead letters q selects, one per id (a closed copy
// wins over a leftover open one).
func (d *Dispatcher) collectDeadLetters(ctx context.Context, q DeadLetterQuery) (map[string]*adminv1.DeadLetter, error) {
	sub, state := "*", "open"
	if q.Subscription != "" {
		sub = q.Subscription
	}
	if q.IncludeResolved {
		state = "*"
	}
	byID := map[string]*adminv1.DeadLetter{}
	err := scan(ctx, d.l.dlq, jetstream.OrderedConsumerConfig{FilterSubjects: []string{d.l.dlqSubject(sub, state, "*")}}, func(msg jetstream.Msg) error {
		dl := &adminv1.DeadLetter{}
		if err := proto.Unmarshal(msg.Data(), dl); err != nil {
			d.log.WarnContext(ctx, "undecodable dead letter skipped", "subject", msg.Subject(), "error", err)
			return nil
		}
		if !q.selects(dl) {
			return nil
		}
		if prev, ok := byID[dl.GetId()]; ok && prev.GetResolution() != "" {
			return nil
		}
		byID[dl.GetId()] = dl
		return nil
	})
	return byID, err
}

// selects applies q's source, type and time filters to dl.
func (q DeadLetterQuery) selects(dl *adminv1.DeadLetter) bool {
	ev, ct := dl.GetEvent(), dl.GetCreateTime().AsTime()
	switch {
	case q.Source != "" && ev.GetSource() != q.Source,
		q.Type != "" && !MatchType(q.Type, ev.GetType()),
		!q.Since.IsZero() && ct.Before(q.Since),
		!q.Until.IsZero() && !ct.Before(q.Until):
		return false
	}
	return true
}

// pageDeadLetters sorts newest first and cuts the page after the cursor.
func pageDeadLetters(byID map[string]*adminv1.DeadLetter, after *dlCursor, size int) ([]*adminv1.DeadLetter, string, error) {
	all := make([]*adminv1.DeadLetter, 0, len(byID))
	for _, dl := range byID {
		if after != nil && !after.before(dl) {
			continue
		}
		all = append(all, dl)
	}
	slices.SortFunc(all, func(a, b *adminv1.DeadLetter) int {
		if c := b.GetCreateTime().AsTime().Compare(a.GetCreateTime().AsTime()); c != 0 {
			return c
		}
		return strings.Compare(b.GetId(), a.GetId())
	})
	next := ""
	if len(all) > size {
		last := all[size-1]
		next = dlCursor{t: last.GetCreateTime().AsTime(), id: last.GetId()}.String()
		all = all[:size]
	}
	return all, next, nil
}

// dlCursor is the position after the last dead letter of a page (newest first).
type dlCursor struct {
	t  time.Time
	id string
}

func (c dlCursor) String() string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(c.t.UnixNano(), 10) + "/" + c.id))
}

func parseDLCursor(s string) (*dlCursor, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, invalid("page_token: malformed")
	}
	ns, id, ok := strings.Cut(string(raw), "/")
	n, err := strconv.ParseInt(ns, 10, 64)
	if !ok || err != nil || !deadIDRE.MatchString(id) {
		return nil, invalid("page_token: malformed")
	}
	return &dlCursor{t: time.Unix(0, n), id: id}, nil
}

// before reports whether dl comes after the cursor in newest-first order.
func (c dlCursor) before(dl *adminv1.DeadLetter) bool {
	t := dl.GetCreateTime().AsTime()
	if !t.Equal(c.t) {
		return t.Before(c.t)
	}
	return dl.GetId() < c.id
}

func pageSize(n int) (int, error) {
	switch {
	case n < 0:
		return 0, invalid("page_size must not be negative")
	case n == 0:
		return 50, nil
	case n > 1000:
		return 1000, nil
	}
	return n, nil
}

// ResolveDeadLetter closes an open dead letter as handled, without replaying it.
// Resolving a closed one returns it unchanged.
func (d *Dispatcher) ResolveDeadLetter(ctx context.Context, id string) (*adminv1.DeadLetter, error) {
	if !deadIDRE.MatchString(id) {
		return nil, invalid("id: not a dead letter id")
	}
	raw, open, err := d.findDeadLetter(ctx, id)
	if err != nil {
		return nil, unavailable(err, "resolve dead letter")
	}
	if raw == nil {
		return nil, notFound("dead letter %s not found", id)
	}
	if !open {
		dl := &adminv1.DeadLetter{}
		if err := proto.Unmarshal(raw.Data, dl); err != nil {
			return nil, corrupt(err, "decode dead letter")
		}
		return dl, nil
	}
	dl, err := d.closeDeadLetter(ctx, raw, resolutionResolved)
	if err != nil {
		return nil, unavailable(err, "resolve dead letter")
	}
	return dl, nil
}

// PurgeQuery selects the dead letters PurgeDeadLetters deletes.
type PurgeQuery struct {
	// Subscription, or "" for every one.
	Subscription string
	// IncludeOpen purges open dead letters too (closed ones only by default).
	IncludeOpen bool
	// Before, if set, keeps dead letters created at or after it.
	Before time.Time
}

// PurgeDeadLetters deletes the dead letters q selects and returns how many.
func (d *Dispatcher) PurgeDeadLetters(ctx context.Context, q PurgeQuery) (int64, error) {
	sub := "*"
	if q.Subscription != "" {
		if !nameRE.MatchString(q.Subscription) {
			return 0, invalid("subscription: invalid name")
		}
		sub = q.Subscription
	}
	state := "closed"
	if q.IncludeOpen {
		state = "*"
	}
	seqs, err := d.purgeable(ctx, d.l.dlqSubject(sub, state, "*"), q.Before)
	if err != nil {
		return 0, unavailable(err, "purge dead letters")
	}
	var n int64
	for _, seq := range seqs {
		if err := d.l.dlq.DeleteMsg(ctx, seq); err != nil {
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				continue
			}
			return 0, unavailable(err, "purge dead letters after "+strconv.FormatInt(n, 10))
		}
		n++
	}
	return n, nil
}

// purgeable lists the sequences of the dead letters on subject created before
// before (all when zero).
func (d *Dispatcher) purgeable(ctx context.Context, subject string, before time.Time) ([]uint64, error) {
	var seqs []uint64
	err := scan(ctx, d.l.dlq, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}}, func(msg jetstream.Msg) error {
		if !before.IsZero() {
			dl := &adminv1.DeadLetter{}
			if err := proto.Unmarshal(msg.Data(), dl); err == nil && !dl.GetCreateTime().AsTime().Before(before) {
				return nil
			}
		}
		md, err := msg.Metadata()
		if err != nil {
			return fmt.Errorf("metadata: %w", err)
		}
		seqs = append(seqs, md.Sequence.Stream)
		return nil
	})
	return seqs, err
}
