package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hookmesh/hookmesh/services/orders/internal/orders"
)

// ApplyStock implements orders.Store.
func (s *Store) ApplyStock(ctx context.Context, ref orders.EventRef, c orders.StockChange) error {
	now := us(s.now())
	return s.tx(ctx, ref, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		switch c.Op {
		case orders.StockSet:
			_, err = tx.ExecContext(ctx, s.q(`INSERT INTO stock (sku, name, quantity, updated_us) VALUES (?, ?, ?, ?)
				ON CONFLICT (sku) DO UPDATE SET name = excluded.name, quantity = excluded.quantity, updated_us = excluded.updated_us`),
				c.SKU, c.Name, c.Quantity, now)
		case orders.StockRestock:
			// A SKU whose INSERT was missed starts from the row's current quantity.
			_, err = tx.ExecContext(ctx, s.q(`INSERT INTO stock (sku, name, quantity, updated_us) VALUES (?, ?, ?, ?)
				ON CONFLICT (sku) DO UPDATE SET
					name = CASE WHEN excluded.name <> '' THEN excluded.name ELSE stock.name END,
					quantity = CASE WHEN stock.quantity + ? < 0 THEN 0 ELSE stock.quantity + ? END,
					updated_us = excluded.updated_us`),
				c.SKU, c.Name, max(c.Quantity, 0), now, c.Delta, c.Delta)
		case orders.StockRemove:
			_, err = tx.ExecContext(ctx, s.q(`DELETE FROM stock WHERE sku = ?`), c.SKU)
		default:
			return orders.Invalidf("unknown stock operation %d", c.Op)
		}
		if err != nil {
			return fmt.Errorf("apply stock change: %w", err)
		}
		return nil
	})
}

// ApplyOrder implements orders.Store.
func (s *Store) ApplyOrder(ctx context.Context, ref orders.EventRef, c orders.OrderChange, plan func(email string) (orders.Fulfilment, error)) (bool, error) {
	fulfilled := false
	err := s.tx(ctx, ref, func(ctx context.Context, tx *sql.Tx) error {
		fulfilled = false
		if err := s.upsertOrder(ctx, tx, c); err != nil {
			return err
		}
		if !c.Completes() {
			return nil
		}
		var one int
		err := tx.QueryRowContext(ctx, s.q(`SELECT 1 FROM shipments WHERE order_id = ?`), c.New.ID).Scan(&one)
		if err == nil {
			return nil // fulfilled before: one shipment per order
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("look up shipment: %w", err)
		}
		email := c.New.CustomerEmail
		if email == "" {
			if email, err = s.receiptEmail(ctx, tx, c.New.ID); err != nil {
				return err
			}
		}
		if err := s.takeStock(ctx, tx, *c.New, email); err != nil {
			return err
		}
		f, err := plan(email)
		if err != nil {
			return err
		}
		if err := s.insertFulfilment(ctx, tx, f); err != nil {
			return err
		}
		fulfilled = true
		return nil
	})
	return fulfilled, err
}

func (s *Store) upsertOrder(ctx context.Context, tx *sql.Tx, c orders.OrderChange) error {
	row := c.Row()
	items, err := encodeItems(row.Items)
	if err != nil {
		return err
	}
	deleted := int64(0)
	if c.Op == orders.OpDelete {
		deleted = max(us(c.At), 1)
	}
	// A change older than the stored one does not overwrite it (no ordering
	// guarantee); the row lock taken here also serialises completions of one order.
	_, err = tx.ExecContext(ctx, s.q(`INSERT INTO orders
			(id, customer_id, customer_email, status, items, total_cents, created_us, changed_us, deleted_us)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET
			customer_id = excluded.customer_id, customer_email = excluded.customer_email,
			status = excluded.status, items = excluded.items, total_cents = excluded.total_cents,
			created_us = excluded.created_us, changed_us = excluded.changed_us, deleted_us = excluded.deleted_us
		WHERE orders.changed_us <= excluded.changed_us`),
		row.ID, row.CustomerID, row.CustomerEmail, row.Status, items, row.TotalCents,
		us(row.CreatedAt), us(c.At), deleted)
	if err != nil {
		return fmt.Errorf("upsert order: %w", err)
	}
	return nil
}

func (s *Store) receiptEmail(ctx context.Context, tx *sql.Tx, orderID string) (string, error) {
	var email string
	err := tx.QueryRowContext(ctx, s.q(`SELECT receipt_email FROM payments WHERE order_id = ?`), orderID).Scan(&email)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("look up receipt email: %w", err)
	}
	return email, nil
}

// takeStock decrements every SKU of the order, or reports every shortage (the
// caller's rollback undoes the decrements made before).
func (s *Store) takeStock(ctx context.Context, tx *sql.Tx, row orders.OrderRow, email string) error {
	now := us(s.now())
	var short []orders.Shortage
	for _, d := range orders.Demand(row.Items) {
		res, err := tx.ExecContext(ctx, s.q(`UPDATE stock SET quantity = quantity - ?, updated_us = ? WHERE sku = ? AND quantity >= ?`),
			d.Quantity, now, d.SKU, d.Quantity)
		if err != nil {
			return fmt.Errorf("take stock: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("take stock: %w", err)
		}
		if n == 1 {
			continue
		}
		var avail int64
		err = tx.QueryRowContext(ctx, s.q(`SELECT quantity FROM stock WHERE sku = ?`), d.SKU).Scan(&avail)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("read stock: %w", err)
		}
		short = append(short, orders.Shortage{SKU: d.SKU, Requested: d.Quantity, Available: avail})
	}
	if len(short) > 0 {
		return &orders.InsufficientStockError{Order: row, Shortages: short, Email: email}
	}
	return nil
}

func (s *Store) insertFulfilment(ctx context.Context, tx *sql.Tx, f orders.Fulfilment) error {
	sh := f.Shipment
	items, err := encodeItems(sh.Items)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO shipments
			(id, order_id, customer_id, tracking_number, items, total_cents, completed_us, created_us)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
		sh.ID, sh.OrderID, sh.CustomerID, sh.TrackingNumber, items, sh.TotalCents, us(sh.CompletedAt), us(sh.CreatedAt)); err != nil {
		return fmt.Errorf("insert shipment: %w", err)
	}
	n := f.Notification
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO fulfillment_notifications
			(id, order_id, shipment_id, body, traceparent, tracestate, status, next_attempt_us, created_us)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		n.ID, n.OrderID, n.ShipmentID, string(n.Body), n.Trace.Parent, n.Trace.State,
		string(orders.NotificationPending), us(n.NextAttemptAt), us(n.CreatedAt)); err != nil {
		return fmt.Errorf("insert fulfillment notification: %w", err)
	}
	return s.insertFact(ctx, tx, f.Fact)
}

func (s *Store) insertFact(ctx context.Context, tx *sql.Tx, f orders.Fact) error {
	data, err := json.Marshal(f.Data)
	if err != nil {
		return fmt.Errorf("encode fact data: %w", err)
	}
	now := us(s.now())
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO publish_outbox
			(event_id, type, subject, data, caused_by_source, caused_by_id, event_us, traceparent, tracestate, next_attempt_us, created_us)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (event_id) DO NOTHING`),
		f.ID, f.Type, f.Subject, string(data), f.CausedBy.Source, f.CausedBy.ID, us(f.Time),
		f.Trace.Parent, f.Trace.State, now, now); err != nil {
		return fmt.Errorf("insert into publish outbox: %w", err)
	}
	return nil
}

// RecordFact implements orders.Store.
func (s *Store) RecordFact(ctx context.Context, f orders.Fact) error {
	return classify(s.w.Tx(ctx, func(ctx context.Context, tx *sql.Tx) error { return s.insertFact(ctx, tx, f) }))
}

// ApplyPayment implements orders.Store.
func (s *Store) ApplyPayment(ctx context.Context, ref orders.EventRef, p orders.Payment) error {
	return s.tx(ctx, ref, func(ctx context.Context, tx *sql.Tx) error {
		cur := orders.Payment{OrderID: p.OrderID}
		var status string
		var eventUS int64
		err := tx.QueryRowContext(ctx, s.q(`SELECT status, payment_intent_id, event_us FROM payments WHERE order_id = ?`), p.OrderID).
			Scan(&status, &cur.PaymentIntentID, &eventUS)
		found := err == nil
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("read payment: %w", err)
		}
		cur.Status, cur.At = orders.PaymentStatus(status), fromUS(eventUS)
		if found && !p.Supersedes(cur) {
			return nil
		}
		var res sql.Result
		if !found {
			res, err = tx.ExecContext(ctx, s.q(`INSERT INTO payments
					(order_id, status, payment_intent_id, amount_cents, currency, failure_message, receipt_email, event_us)
					VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (order_id) DO NOTHING`),
				p.OrderID, string(p.Status), p.PaymentIntentID, p.AmountCents, p.Currency, p.FailureMessage, p.ReceiptEmail, us(p.At))
		} else {
			// Compare-and-set on what was read: a concurrent writer makes this miss.
			res, err = tx.ExecContext(ctx, s.q(`UPDATE payments SET status = ?, payment_intent_id = ?, amount_cents = ?, currency = ?,
					failure_message = ?, receipt_email = CASE WHEN ? <> '' THEN ? ELSE receipt_email END, event_us = ?
				WHERE order_id = ? AND status = ? AND payment_intent_id = ? AND event_us = ?`),
				string(p.Status), p.PaymentIntentID, p.AmountCents, p.Currency, p.FailureMessage, p.ReceiptEmail, p.ReceiptEmail, us(p.At),
				p.OrderID, status, cur.PaymentIntentID, eventUS)
		}
		if err != nil {
			return fmt.Errorf("write payment: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return fmt.Errorf("write payment of order %s: %w", p.OrderID, orders.ErrAborted)
		}
		return nil
	})
}

// ApplySubscription implements orders.Store.
func (s *Store) ApplySubscription(ctx context.Context, ref orders.EventRef, c orders.SubscriptionChange) error {
	sub := c.Subscription
	ended := int64(0)
	if c.Deleted {
		ended = max(us(sub.EndedAt), 1)
	}
	return s.tx(ctx, ref, func(ctx context.Context, tx *sql.Tx) error {
		// A deletion that arrived first is kept when the creation comes later.
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO subscriptions
				(id, customer_id, stripe_customer_id, status, monthly_price_cents, currency, started_us, ended_us)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET
				customer_id = excluded.customer_id, stripe_customer_id = excluded.stripe_customer_id,
				monthly_price_cents = excluded.monthly_price_cents, currency = excluded.currency,
				started_us = excluded.started_us,
				status = CASE WHEN subscriptions.ended_us <> 0 AND excluded.ended_us = 0 THEN subscriptions.status ELSE excluded.status END,
				ended_us = CASE WHEN excluded.ended_us <> 0 THEN excluded.ended_us ELSE subscriptions.ended_us END`),
			sub.ID, sub.CustomerID, sub.StripeCustomerID, sub.Status, sub.MonthlyPriceCents, sub.Currency, us(sub.StartedAt), ended)
		if err != nil {
			return fmt.Errorf("upsert subscription: %w", err)
		}
		return nil
	})
}

// Bill implements orders.Store.
func (s *Store) Bill(ctx context.Context, ref orders.EventRef, m orders.Month, build func([]orders.Shipment, []orders.Subscription) []orders.Invoice) ([]orders.Invoice, error) {
	var written []orders.Invoice
	err := s.tx(ctx, ref, func(ctx context.Context, tx *sql.Tx) error {
		written = nil
		unbilled, err := s.queryShipments(ctx, tx, `WHERE invoice_id = '' AND completed_us < ? ORDER BY created_us, id`, us(m.End()))
		if err != nil {
			return err
		}
		subs, err := s.activeSubscriptions(ctx, tx, m)
		if err != nil {
			return err
		}
		done := map[string]bool{}
		rows, err := tx.QueryContext(ctx, s.q(`SELECT customer_id FROM invoices WHERE month = ?`), m.String())
		if err != nil {
			return fmt.Errorf("read invoices: %w", err)
		}
		for rows.Next() {
			var c string
			if err := rows.Scan(&c); err != nil {
				_ = rows.Close()
				return fmt.Errorf("read invoices: %w", err)
			}
			done[c] = true
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return fmt.Errorf("read invoices: %w", err)
		}
		for _, inv := range build(unbilled, subs) {
			if done[inv.CustomerID] {
				continue // invoiced for m by another tick; its late orders go on the next invoice
			}
			if err := s.insertInvoice(ctx, tx, inv); err != nil {
				return err
			}
			written = append(written, inv)
		}
		return nil
	})
	return written, err
}

func (s *Store) activeSubscriptions(ctx context.Context, tx *sql.Tx, m orders.Month) ([]orders.Subscription, error) {
	rows, err := tx.QueryContext(ctx, s.q(`SELECT id, customer_id, stripe_customer_id, status, monthly_price_cents, currency, started_us, ended_us
		FROM subscriptions WHERE started_us < ? AND (ended_us = 0 OR ended_us > ?) ORDER BY id`), us(m.End()), us(m.Start()))
	if err != nil {
		return nil, fmt.Errorf("read subscriptions: %w", err)
	}
	defer rows.Close()
	var out []orders.Subscription
	for rows.Next() {
		var sub orders.Subscription
		var started, ended int64
		if err := rows.Scan(&sub.ID, &sub.CustomerID, &sub.StripeCustomerID, &sub.Status, &sub.MonthlyPriceCents, &sub.Currency, &started, &ended); err != nil {
			return nil, fmt.Errorf("read subscriptions: %w", err)
		}
		sub.StartedAt, sub.EndedAt = fromUS(started), fromUS(ended)
		out = append(out, sub)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read subscriptions: %w", err)
	}
	return out, nil
}

func (s *Store) insertInvoice(ctx context.Context, tx *sql.Tx, inv orders.Invoice) error {
	res, err := tx.ExecContext(ctx, s.q(`INSERT INTO invoices (id, customer_id, month, total_cents, created_us) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT DO NOTHING`), inv.ID, inv.CustomerID, inv.Month.String(), inv.TotalCents, us(inv.CreatedAt))
	if err != nil {
		return fmt.Errorf("insert invoice: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return fmt.Errorf("insert invoice for %s %s: %w", inv.CustomerID, inv.Month, orders.ErrAborted)
	}
	for _, l := range inv.Lines {
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO invoice_lines (invoice_id, kind, reference, description, amount_cents) VALUES (?, ?, ?, ?, ?)`),
			inv.ID, string(l.Kind), l.Reference, l.Description, l.AmountCents); err != nil {
			return fmt.Errorf("insert invoice line: %w", err)
		}
		if l.Kind != orders.LineOrder {
			continue
		}
		res, err := tx.ExecContext(ctx, s.q(`UPDATE shipments SET invoice_id = ? WHERE order_id = ? AND invoice_id = ''`), inv.ID, l.Reference)
		if err != nil {
			return fmt.Errorf("mark order billed: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return fmt.Errorf("mark order %s billed: %w", l.Reference, orders.ErrAborted)
		}
	}
	return nil
}
