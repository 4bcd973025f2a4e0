// Package store keeps the email service's messages, verified addresses and
// customer directory in one database/sql store on platform/sqlstore (SQLite by default, PostgreSQL by
// URL), with the same queries for both dialects.
package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hookmesh/hookmesh/platform/sqlstore"
	"github.com/hookmesh/hookmesh/services/email/internal/email"
)

// Migrations are the store's schema, for sqlstore.Open.
//
//go:embed migrations/*.sql
var Migrations embed.FS

// Consumer is the name this service records in processed_events.
const Consumer = "email"

// Store implements email.Store.
type Store struct {
	db *sqlstore.DB
	w  sqlstore.Writer // the deliveries' transactions: Record, Claim, Finish
	d  sqlstore.Dialect
}

var _ email.Store = (*Store)(nil)

// New wraps an open, migrated database.
func New(db *sqlstore.DB) *Store { return &Store{db: db, w: db.Writer(), d: db.Dialect()} }

// GroupCommit makes the writes of concurrent deliveries share transactions (a
// savepoint each, one commit); g writes to the same DB. Each call still returns
// only after its own write committed, so the intent is durable before the send.
func (s *Store) GroupCommit(g *sqlstore.Group) { s.w = g }

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMicro(v.Int64).UTC()
}

// Record implements email.Intents.
func (s *Store) Record(ctx context.Context, ev email.EventRef, msgs []*email.Message, dir *email.CustomerChange) (bool, error) {
	first := false
	err := s.w.Tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		first, err = sqlstore.MarkProcessed(ctx, tx, s.d, Consumer, ev.Source, ev.ID)
		if err != nil || !first {
			return err
		}
		if dir != nil {
			if err := s.applyCustomer(ctx, tx, ev, dir); err != nil {
				return err
			}
		}
		for _, m := range msgs {
			// DO NOTHING: should processed_events ever be pruned, the message
			// recorded earlier stands and is not sent again.
			if _, err := tx.ExecContext(ctx, s.d.Rebind(`INSERT INTO messages
				(id, message_id, kind, status, failure_reason, from_addr, subject, event_source, event_id, event_type,
				 trace_id, attempts, transport, raw, created_at, updated_at)
				VALUES (?, ?, ?, ?, '', ?, ?, ?, ?, ?, ?, 0, '', ?, ?, ?) ON CONFLICT DO NOTHING`),
				m.ID, m.MessageID, string(m.Kind), string(email.StatusQueued), m.From, m.Subject,
				ev.Source, ev.ID, ev.Type, m.TraceID, string(m.Raw), micros(m.CreatedAt), micros(m.CreatedAt)); err != nil {
				return fmt.Errorf("insert message: %w", err)
			}
			for i, to := range m.To {
				if _, err := tx.ExecContext(ctx, s.d.Rebind(`INSERT INTO message_recipients
					(message_id, position, address, address_lower) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`),
					m.ID, i, to, strings.ToLower(to)); err != nil {
					return fmt.Errorf("insert recipient: %w", err)
				}
			}
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("record messages: %w", err)
	}
	return first, nil
}

const columns = `id, message_id, kind, status, failure_reason, from_addr, subject, event_source, event_id, event_type,
	trace_id, attempts, transport, raw, created_at, updated_at, sent_at, lease_until`

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// query runs a SELECT of columns and loads the recipients of what it found.
func (s *Store) query(ctx context.Context, q querier, query string, args ...any) ([]*email.Message, []time.Time, error) {
	rows, err := q.QueryContext(ctx, s.d.Rebind(query), args...)
	if err != nil {
		return nil, nil, fmt.Errorf("query messages: %w", err)
	}
	defer rows.Close()
	var (
		out    []*email.Message
		leases []time.Time
		byID   = map[string]*email.Message{}
	)
	for rows.Next() {
		var (
			m                 email.Message
			kind, status, raw string
			created, updated  int64
			sent, lease       sql.NullInt64
		)
		if err := rows.Scan(&m.ID, &m.MessageID, &kind, &status, &m.FailureReason, &m.From, &m.Subject,
			&m.Event.Source, &m.Event.ID, &m.Event.Type, &m.TraceID, &m.Attempts, &m.Transport, &raw,
			&created, &updated, &sent, &lease); err != nil {
			return nil, nil, fmt.Errorf("scan message: %w", err)
		}
		m.Kind, m.Status, m.Raw = email.Kind(kind), email.Status(status), []byte(raw)
		m.CreatedAt, m.UpdatedAt, m.SentAt = time.UnixMicro(created).UTC(), time.UnixMicro(updated).UTC(), fromMicros(sent)
		out = append(out, &m)
		leases = append(leases, fromMicros(lease))
		byID[m.ID] = &m
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("read messages: %w", err)
	}
	if len(out) == 0 {
		return nil, nil, nil
	}
	ids := make([]any, 0, len(out))
	for _, m := range out {
		ids = append(ids, m.ID)
	}
	rrows, err := q.QueryContext(ctx, s.d.Rebind(`SELECT message_id, address FROM message_recipients
		WHERE message_id IN (?`+strings.Repeat(", ?", len(ids)-1)+`) ORDER BY message_id, position`), ids...)
	if err != nil {
		return nil, nil, fmt.Errorf("query recipients: %w", err)
	}
	defer rrows.Close()
	for rrows.Next() {
		var id, addr string
		if err := rrows.Scan(&id, &addr); err != nil {
			return nil, nil, fmt.Errorf("scan recipient: %w", err)
		}
		byID[id].To = append(byID[id].To, addr)
	}
	if err := rrows.Err(); err != nil {
		return nil, nil, fmt.Errorf("read recipients: %w", err)
	}
	return out, leases, nil
}

// ForEvent implements email.Intents.
func (s *Store) ForEvent(ctx context.Context, source, id string) ([]*email.Message, error) {
	msgs, _, err := s.query(ctx, s.db, `SELECT `+columns+` FROM messages
		WHERE event_source = ? AND event_id = ? ORDER BY created_at, id`, source, id)
	return msgs, err
}

// Claim implements email.Sends.
func (s *Store) Claim(ctx context.Context, id string, now time.Time, lease time.Duration) (email.Claim, error) {
	var tok [12]byte
	if _, err := rand.Read(tok[:]); err != nil {
		return email.Claim{}, fmt.Errorf("claim token: %w", err)
	}
	c := email.Claim{Token: hex.EncodeToString(tok[:])}
	err := s.w.Tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.d.Rebind(`UPDATE messages
			SET lease_until = ?, claim_token = ?, attempts = attempts + 1, updated_at = ?
			WHERE id = ? AND status <> 'sent' AND (lease_until IS NULL OR lease_until <= ?)`),
			micros(now.Add(lease)), c.Token, micros(now), id, micros(now))
		if err != nil {
			return fmt.Errorf("claim message: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("claim message: %w", err)
		}
		c.Held = n == 1
		msgs, leases, err := s.query(ctx, tx, `SELECT `+columns+` FROM messages WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if len(msgs) == 0 {
			return fmt.Errorf("message %s: %w", id, email.ErrNotFound)
		}
		c.Message, c.LeaseUntil = msgs[0], leases[0]
		return nil
	})
	if err != nil {
		return email.Claim{}, err
	}
	if !c.Held {
		c.Token = ""
	}
	return c, nil
}

// Finish implements email.Sends.
func (s *Store) Finish(ctx context.Context, c email.Claim, a email.Attempt) error {
	if !c.Held || c.Message == nil {
		return errors.New("finish: not a held claim")
	}
	var sent any // NULL unless sent
	if a.Status == email.StatusSent {
		sent = micros(a.At)
	}
	err := s.w.Tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, s.d.Rebind(`UPDATE messages
			SET status = ?, failure_reason = ?, transport = ?, sent_at = COALESCE(?, sent_at), updated_at = ?,
			    lease_until = NULL, claim_token = NULL
			WHERE id = ? AND claim_token = ?`),
			string(a.Status), a.Reason, a.Transport, sent, micros(a.At), c.Message.ID, c.Token)
		return err
	})
	if err != nil {
		return fmt.Errorf("finish message: %w", err)
	}
	return nil
}

// Get implements email.Messages.
func (s *Store) Get(ctx context.Context, id string) (*email.Message, error) {
	msgs, _, err := s.query(ctx, s.db, `SELECT `+columns+` FROM messages WHERE id = ?`, id)
	if err != nil {
		return nil, err
	}
	if len(msgs) == 0 {
		return nil, fmt.Errorf("message %q: %w", id, email.ErrNotFound)
	}
	return msgs[0], nil
}

// Page sizes of List.
const (
	DefaultLimit = 50
	MaxLimit     = 500
)

// List implements email.Messages: newest first, keyset-paged on (created_at, id).
func (s *Store) List(ctx context.Context, f email.Filter) ([]*email.Message, string, error) {
	limit := f.Limit
	switch {
	case limit <= 0:
		limit = DefaultLimit
	case limit > MaxLimit:
		limit = MaxLimit
	}
	var (
		where []string
		args  []any
	)
	if f.Status != "" {
		where, args = append(where, "status = ?"), append(args, string(f.Status))
	}
	if f.To != "" {
		where = append(where, "EXISTS (SELECT 1 FROM message_recipients r WHERE r.message_id = messages.id AND r.address_lower = ?)")
		args = append(args, strings.ToLower(strings.TrimSpace(f.To)))
	}
	if f.EventID != "" {
		where, args = append(where, "event_id = ?"), append(args, f.EventID)
	}
	if !f.Since.IsZero() {
		where, args = append(where, "created_at >= ?"), append(args, micros(f.Since))
	}
	if !f.Until.IsZero() {
		where, args = append(where, "created_at < ?"), append(args, micros(f.Until))
	}
	if f.Cursor != "" {
		at, id, err := decodeCursor(f.Cursor)
		if err != nil {
			return nil, "", err
		}
		where = append(where, "(created_at < ? OR (created_at = ? AND id < ?))")
		args = append(args, at, at, id)
	}
	q := `SELECT ` + columns + ` FROM messages`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY created_at DESC, id DESC LIMIT " + strconv.Itoa(limit+1)
	msgs, _, err := s.query(ctx, s.db, q, args...)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(msgs) > limit {
		msgs = msgs[:limit]
		last := msgs[limit-1]
		next = encodeCursor(micros(last.CreatedAt), last.ID)
	}
	return msgs, next, nil
}

func encodeCursor(at int64, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(at, 10) + ":" + id))
}

func decodeCursor(c string) (int64, string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return 0, "", fmt.Errorf("page token: %w: malformed", email.ErrInvalid)
	}
	at, id, ok := strings.Cut(string(raw), ":")
	n, err := strconv.ParseInt(at, 10, 64)
	if !ok || err != nil || id == "" {
		return 0, "", fmt.Errorf("page token: %w: malformed", email.ErrInvalid)
	}
	return n, id, nil
}

// MarkVerified implements email.Verifications.
func (s *Store) MarkVerified(ctx context.Context, userID, addr string, at time.Time) (time.Time, error) {
	var first int64
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.d.Rebind(`INSERT INTO verified_addresses (user_id, email, verified_at)
			VALUES (?, ?, ?) ON CONFLICT DO NOTHING`), userID, addr, micros(at)); err != nil {
			return fmt.Errorf("insert verified address: %w", err)
		}
		return tx.QueryRowContext(ctx, s.d.Rebind(`SELECT verified_at FROM verified_addresses WHERE user_id = ? AND email = ?`),
			userID, addr).Scan(&first)
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("mark verified: %w", err)
	}
	return time.UnixMicro(first).UTC(), nil
}

// Verified reports whether (userID, addr) was verified, and when.
func (s *Store) Verified(ctx context.Context, userID, addr string) (time.Time, bool, error) {
	var at int64
	err := s.db.QueryRowContext(ctx, s.d.Rebind(`SELECT verified_at FROM verified_addresses WHERE user_id = ? AND email = ?`),
		userID, addr).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("read verified address: %w", err)
	}
	return time.UnixMicro(at).UTC(), true, nil
}

// applyCustomer upserts a directory change unless the stored entry is newer:
// last writer wins by (changed_at, op_rank), whatever the arrival order; on a
// tie the later arrival wins.
func (s *Store) applyCustomer(ctx context.Context, tx *sql.Tx, ev email.EventRef, c *email.CustomerChange) error {
	deleted := 0
	if c.Deleted {
		deleted = 1
	}
	if _, err := tx.ExecContext(ctx, s.d.Rebind(`INSERT INTO customers
		(id, email, name, deleted, changed_at, op_rank, event_source, event_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET email = excluded.email, name = excluded.name, deleted = excluded.deleted,
			changed_at = excluded.changed_at, op_rank = excluded.op_rank,
			event_source = excluded.event_source, event_id = excluded.event_id
		WHERE excluded.changed_at > customers.changed_at
		   OR (excluded.changed_at = customers.changed_at AND excluded.op_rank >= customers.op_rank)`),
		c.ID, c.Email, c.Name, deleted, micros(c.At), int(c.Op), ev.Source, ev.ID); err != nil {
		return fmt.Errorf("update customer directory: %w", err)
	}
	return nil
}

// Customer implements email.Customers.
func (s *Store) Customer(ctx context.Context, id string) (email.Customer, bool, error) {
	c := email.Customer{ID: id}
	var deleted int
	err := s.db.QueryRowContext(ctx, s.d.Rebind(`SELECT email, name, deleted FROM customers WHERE id = ?`), id).
		Scan(&c.Email, &c.Name, &deleted)
	if errors.Is(err, sql.ErrNoRows) {
		return email.Customer{}, false, nil
	}
	if err != nil {
		return email.Customer{}, false, fmt.Errorf("read customer directory: %w", err)
	}
	c.Deleted = deleted == 1
	return c, true, nil
}

// PendingSends counts the messages recorded and not sent yet (queued, including
// those a delivery is sending now) and says when the oldest was recorded
// (hookmesh_pending_work_*{queue="send"}).
func (s *Store) PendingSends(ctx context.Context) (int64, time.Time, error) {
	var n int64
	var oldest sql.NullInt64
	err := s.db.QueryRowContext(ctx, s.d.Rebind(`SELECT COUNT(*), MIN(created_at) FROM messages WHERE status = ?`), string(email.StatusQueued)).Scan(&n, &oldest)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("count pending sends: %w", err)
	}
	return n, fromMicros(oldest), nil
}
