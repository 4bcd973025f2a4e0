package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hookmesh/hookmesh/services/orders/internal/orders"
)

// Outbox rows are claimed with a compare-and-set on next_attempt_us that moves it
// to the end of a lease, so two replicas never send the same row at once and a
// row whose sender died is picked up again when its lease ends.

// ClaimNotifications leases up to limit pending fulfillment notifications that are
// due at now, until leaseUntil.
func (s *Store) ClaimNotifications(ctx context.Context, now, leaseUntil time.Time, limit int) ([]orders.Notification, error) {
	var claimed []orders.Notification
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		claimed = nil
		due, err := s.queryNotifications(ctx, tx, `WHERE status = ? AND next_attempt_us <= ? ORDER BY next_attempt_us, id LIMIT ?`,
			string(orders.NotificationPending), us(now), limit)
		if err != nil {
			return err
		}
		for _, n := range due {
			ok, err := claim(ctx, tx, s.q(`UPDATE fulfillment_notifications SET next_attempt_us = ?
				WHERE id = ? AND status = 'pending' AND next_attempt_us = ?`), us(leaseUntil), n.ID, us(n.NextAttemptAt))
			if err != nil {
				return fmt.Errorf("claim fulfillment notification: %w", err)
			}
			if ok {
				claimed = append(claimed, n)
			}
		}
		return nil
	})
	return claimed, err
}

func claim(ctx context.Context, tx *sql.Tx, query string, args ...any) (bool, error) {
	res, err := tx.ExecContext(ctx, query, args...)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// RecordNotificationAttempt stores the outcome of one attempt: delivered, retry at
// a.NextAt, or (NextAt zero) failed for good.
func (s *Store) RecordNotificationAttempt(ctx context.Context, id string, a orders.Attempt) error {
	status, next, delivered := orders.NotificationPending, us(a.NextAt), int64(0)
	switch {
	case a.Done:
		status, next, delivered = orders.NotificationDelivered, 0, us(a.At)
	case a.NextAt.IsZero():
		status = orders.NotificationFailed
	}
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE fulfillment_notifications
		SET status = ?, attempts = attempts + 1, last_error = ?, last_status_code = ?, next_attempt_us = ?, delivered_us = ?
		WHERE id = ? AND status = 'pending'`), string(status), a.Error, a.StatusCode, next, delivered, id)
	if err != nil {
		return fmt.Errorf("record fulfillment attempt: %w", err)
	}
	return nil
}

// NextNotificationDue is when the earliest pending notification is due (ok false: none).
func (s *Store) NextNotificationDue(ctx context.Context) (time.Time, bool, error) {
	return s.nextDue(ctx, `SELECT MIN(next_attempt_us) FROM fulfillment_notifications WHERE status = 'pending'`)
}

func (s *Store) nextDue(ctx context.Context, query string) (time.Time, bool, error) {
	var v sql.NullInt64
	if err := s.db.QueryRowContext(ctx, query).Scan(&v); err != nil {
		return time.Time{}, false, fmt.Errorf("read next due time: %w", err)
	}
	if !v.Valid {
		return time.Time{}, false, nil
	}
	return time.UnixMicro(v.Int64), true, nil
}

// ClaimFacts leases up to limit unpublished facts due at now, until leaseUntil.
func (s *Store) ClaimFacts(ctx context.Context, now, leaseUntil time.Time, limit int) ([]orders.Fact, error) {
	var claimed []orders.Fact
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		claimed = nil
		rows, err := tx.QueryContext(ctx, s.q(`SELECT event_id, type, subject, data, caused_by_source, caused_by_id, event_us,
				traceparent, tracestate, attempts, next_attempt_us
			FROM publish_outbox WHERE published_us = 0 AND next_attempt_us <= ? ORDER BY next_attempt_us, event_id LIMIT ?`), us(now), limit)
		if err != nil {
			return fmt.Errorf("read publish outbox: %w", err)
		}
		type row struct {
			f    orders.Fact
			next int64
		}
		var due []row
		for rows.Next() {
			var r row
			var data string
			var at int64
			if err := rows.Scan(&r.f.ID, &r.f.Type, &r.f.Subject, &data, &r.f.CausedBy.Source, &r.f.CausedBy.ID, &at,
				&r.f.Trace.Parent, &r.f.Trace.State, &r.f.Attempts, &r.next); err != nil {
				_ = rows.Close()
				return fmt.Errorf("read publish outbox: %w", err)
			}
			if err := json.Unmarshal([]byte(data), &r.f.Data); err != nil {
				_ = rows.Close()
				return fmt.Errorf("decode fact %s: %w", r.f.ID, err)
			}
			r.f.Time = fromUS(at)
			due = append(due, r)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return fmt.Errorf("read publish outbox: %w", err)
		}
		for _, r := range due {
			ok, err := claim(ctx, tx, s.q(`UPDATE publish_outbox SET next_attempt_us = ?
				WHERE event_id = ? AND published_us = 0 AND next_attempt_us = ?`), us(leaseUntil), r.f.ID, r.next)
			if err != nil {
				return fmt.Errorf("claim fact: %w", err)
			}
			if ok {
				claimed = append(claimed, r.f)
			}
		}
		return nil
	})
	return claimed, err
}

// RecordPublishAttempt stores the outcome of one publish: published, or retry at a.NextAt.
func (s *Store) RecordPublishAttempt(ctx context.Context, id string, a orders.Attempt) error {
	published, next := int64(0), us(a.NextAt)
	if a.Done {
		published, next = max(us(a.At), 1), 0
	}
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE publish_outbox SET attempts = attempts + 1, last_error = ?, published_us = ?, next_attempt_us = ?
		WHERE event_id = ? AND published_us = 0`), a.Error, published, next, id)
	if err != nil {
		return fmt.Errorf("record publish attempt: %w", err)
	}
	return nil
}

// NextFactDue is when the earliest unpublished fact is due (ok false: none).
func (s *Store) NextFactDue(ctx context.Context) (time.Time, bool, error) {
	return s.nextDue(ctx, `SELECT MIN(next_attempt_us) FROM publish_outbox WHERE published_us = 0`)
}

// SeedStock sets the levels of a catalogue once per database (marker name):
// later starts, and SKUs that exist already, are left alone.
func (s *Store) SeedStock(ctx context.Context, marker string, levels []orders.StockLevel) (bool, error) {
	seeded := false
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		now := us(s.now())
		ok, err := claim(ctx, tx, s.q(`INSERT INTO markers (name, created_us) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`), marker, now)
		if err != nil {
			return fmt.Errorf("record seed marker: %w", err)
		}
		if !ok {
			return nil
		}
		for _, l := range levels {
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO stock (sku, name, quantity, updated_us) VALUES (?, ?, ?, ?)
				ON CONFLICT (sku) DO NOTHING`), l.SKU, l.Name, l.Quantity, now); err != nil {
				return fmt.Errorf("seed stock: %w", err)
			}
		}
		seeded = true
		return nil
	})
	return seeded, classify(err)
}

// PendingFacts counts the facts not yet published and says when the oldest was
// recorded (hookmesh_pending_work_*{queue="publish"}).
func (s *Store) PendingFacts(ctx context.Context) (int64, time.Time, error) {
	return s.pending(ctx, `SELECT COUNT(*), MIN(created_us) FROM publish_outbox WHERE published_us = 0`)
}

// PendingNotifications counts the fulfillment webhooks not yet delivered (nor
// given up on) and says when the oldest was recorded.
func (s *Store) PendingNotifications(ctx context.Context) (int64, time.Time, error) {
	return s.pending(ctx, `SELECT COUNT(*), MIN(created_us) FROM fulfillment_notifications WHERE status = ?`, string(orders.NotificationPending))
}

func (s *Store) pending(ctx context.Context, query string, args ...any) (int64, time.Time, error) {
	var n int64
	var oldest sql.NullInt64
	if err := s.db.QueryRowContext(ctx, s.q(query), args...).Scan(&n, &oldest); err != nil {
		return 0, time.Time{}, fmt.Errorf("count pending work: %w", err)
	}
	return n, fromUS(oldest.Int64), nil
}
