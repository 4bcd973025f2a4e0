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
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
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

// ListDeadLetters lists dead letters, newest first, filtered as the request says.
func (d *Dispatcher) ListDeadLetters(ctx context.Context, req *adminv1.ListDeadLettersRequest) (*adminv1.ListDeadLettersResponse, error) {
	size, err := pageSize(req.GetPageSize())
	if err != nil {
		return nil, err
	}
	if req.GetSubscription() != "" && !nameRE.MatchString(req.GetSubscription()) {
		return nil, status.Error(codes.InvalidArgument, "subscription: invalid name")
	}
	var after *dlCursor
	if req.GetPageToken() != "" {
		if after, err = parseDLCursor(req.GetPageToken()); err != nil {
			return nil, err
		}
	}
	sub, state := "*", "open"
	if req.GetSubscription() != "" {
		sub = req.GetSubscription()
	}
	if req.GetIncludeResolved() {
		state = "*"
	}
	var since, until time.Time
	if req.GetSince() != nil {
		since = req.GetSince().AsTime()
	}
	if req.GetUntil() != nil {
		until = req.GetUntil().AsTime()
	}
	byID := map[string]*adminv1.DeadLetter{}
	err = scan(ctx, d.l.dlq, jetstream.OrderedConsumerConfig{FilterSubjects: []string{d.l.dlqSubject(sub, state, "*")}}, func(msg jetstream.Msg) error {
		dl := &adminv1.DeadLetter{}
		if err := proto.Unmarshal(msg.Data(), dl); err != nil {
			d.log.WarnContext(ctx, "undecodable dead letter skipped", "subject", msg.Subject(), "error", err)
			return nil
		}
		ev, ct := dl.GetEvent(), dl.GetCreateTime().AsTime()
		switch {
		case req.GetSource() != "" && ev.GetSource() != req.GetSource(),
			req.GetType() != "" && !MatchType(req.GetType(), ev.GetType()),
			!since.IsZero() && ct.Before(since),
			!until.IsZero() && !ct.Before(until):
			return nil
		}
		// A closed copy wins over a leftover open one.
		if prev, ok := byID[dl.GetId()]; ok && prev.GetResolution() != "" {
			return nil
		}
		byID[dl.GetId()] = dl
		return nil
	})
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "list dead letters: %v", err)
	}
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
	resp := &adminv1.ListDeadLettersResponse{}
	if len(all) > size {
		last := all[size-1]
		resp.NextPageToken = dlCursor{t: last.GetCreateTime().AsTime(), id: last.GetId()}.String()
		all = all[:size]
	}
	resp.DeadLetters = all
	return resp, nil
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
		return nil, status.Error(codes.InvalidArgument, "page_token: malformed")
	}
	ns, id, ok := strings.Cut(string(raw), "/")
	n, err := strconv.ParseInt(ns, 10, 64)
	if !ok || err != nil || !deadIDRE.MatchString(id) {
		return nil, status.Error(codes.InvalidArgument, "page_token: malformed")
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

func pageSize(n int32) (int, error) {
	switch {
	case n < 0:
		return 0, status.Error(codes.InvalidArgument, "page_size must not be negative")
	case n == 0:
		return 50, nil
	case n > 1000:
		return 1000, nil
	}
	return int(n), nil
}

// ResolveDeadLetter closes an open dead letter as handled, without replaying it.
// Resolving a closed one returns it unchanged.
func (d *Dispatcher) ResolveDeadLetter(ctx context.Context, req *adminv1.ResolveDeadLetterRequest) (*adminv1.ResolveDeadLetterResponse, error) {
	if !deadIDRE.MatchString(req.GetId()) {
		return nil, status.Error(codes.InvalidArgument, "id: not a dead letter id")
	}
	raw, open, err := d.findDeadLetter(ctx, req.GetId())
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "resolve dead letter: %v", err)
	}
	if raw == nil {
		return nil, status.Errorf(codes.NotFound, "dead letter %s not found", req.GetId())
	}
	if !open {
		dl := &adminv1.DeadLetter{}
		if err := proto.Unmarshal(raw.Data, dl); err != nil {
			return nil, status.Errorf(codes.DataLoss, "decode dead letter: %v", err)
		}
		return &adminv1.ResolveDeadLetterResponse{DeadLetter: dl}, nil
	}
	dl, err := d.closeDeadLetter(ctx, raw, resolutionResolved)
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "resolve dead letter: %v", err)
	}
	return &adminv1.ResolveDeadLetterResponse{DeadLetter: dl}, nil
}

// PurgeDeadLetters deletes closed dead letters (and open ones with include_open)
// of one or every subscription, created before a time if given.
func (d *Dispatcher) PurgeDeadLetters(ctx context.Context, req *adminv1.PurgeDeadLettersRequest) (*adminv1.PurgeDeadLettersResponse, error) {
	sub := "*"
	if req.GetSubscription() != "" {
		if !nameRE.MatchString(req.GetSubscription()) {
			return nil, status.Error(codes.InvalidArgument, "subscription: invalid name")
		}
		sub = req.GetSubscription()
	}
	state := "closed"
	if req.GetIncludeOpen() {
		state = "*"
	}
	var before time.Time
	if req.GetBefore() != nil {
		before = req.GetBefore().AsTime()
	}
	var seqs []uint64
	err := scan(ctx, d.l.dlq, jetstream.OrderedConsumerConfig{FilterSubjects: []string{d.l.dlqSubject(sub, state, "*")}}, func(msg jetstream.Msg) error {
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
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "purge dead letters: %v", err)
	}
	var n int64
	for _, seq := range seqs {
		if err := d.l.dlq.DeleteMsg(ctx, seq); err != nil {
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				continue
			}
			return nil, status.Errorf(codes.Unavailable, "purge dead letters after %d: %v", n, err)
		}
		n++
	}
	return &adminv1.PurgeDeadLettersResponse{Purged: n}, nil
}
