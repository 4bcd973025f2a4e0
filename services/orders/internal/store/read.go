package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/hookmesh/hookmesh/services/orders/internal/orders"
)

// querier is a *sql.Tx or the read pool.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// GetOrder implements orders.Reader.
func (s *Store) GetOrder(ctx context.Context, id string) (orders.Order, error) {
	var o orders.Order
	var items string
	var created, changed, deleted int64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT id, customer_id, customer_email, status, items, total_cents, created_us, changed_us, deleted_us
		FROM orders WHERE id = ?`), id).
		Scan(&o.ID, &o.CustomerID, &o.CustomerEmail, &o.Status, &items, &o.TotalCents, &created, &changed, &deleted)
	if errors.Is(err, sql.ErrNoRows) {
		return orders.Order{}, fmt.Errorf("order %s: %w", id, orders.ErrNotFound)
	}
	if err != nil {
		return orders.Order{}, fmt.Errorf("read order: %w", err)
	}
	if o.Items, err = decodeItems(items); err != nil {
		return orders.Order{}, err
	}
	o.CreatedAt, o.UpdatedAt, o.DeletedAt = fromUS(created), fromUS(changed), fromUS(deleted)

	o.Payment = orders.Payment{OrderID: id, Status: orders.PaymentPending}
	var status string
	var at int64
	err = s.db.QueryRowContext(ctx, s.q(`SELECT status, payment_intent_id, amount_cents, currency, failure_message, receipt_email, event_us
		FROM payments WHERE order_id = ?`), id).
		Scan(&status, &o.Payment.PaymentIntentID, &o.Payment.AmountCents, &o.Payment.Currency, &o.Payment.FailureMessage, &o.Payment.ReceiptEmail, &at)
	switch {
	case err == nil:
		o.Payment.Status, o.Payment.At = orders.PaymentStatus(status), fromUS(at)
	case !errors.Is(err, sql.ErrNoRows):
		return orders.Order{}, fmt.Errorf("read payment: %w", err)
	}

	shipments, err := s.queryShipments(ctx, s.db, `WHERE order_id = ?`, id)
	if err != nil {
		return orders.Order{}, err
	}
	if len(shipments) == 1 {
		o.Shipment = &shipments[0]
	}
	return o, nil
}

const shipmentColumns = `id, order_id, customer_id, tracking_number, items, total_cents, completed_us, created_us, invoice_id`

func (s *Store) queryShipments(ctx context.Context, q querier, where string, args ...any) ([]orders.Shipment, error) {
	rows, err := q.QueryContext(ctx, s.q(`SELECT `+shipmentColumns+` FROM shipments `+where), args...)
	if err != nil {
		return nil, fmt.Errorf("read shipments: %w", err)
	}
	defer func() { _ = rows.Close() }()
	var out []orders.Shipment
	for rows.Next() {
		var sh orders.Shipment
		var items string
		var completed, created int64
		if err := rows.Scan(&sh.ID, &sh.OrderID, &sh.CustomerID, &sh.TrackingNumber, &items, &sh.TotalCents, &completed, &created, &sh.InvoiceID); err != nil {
			return nil, fmt.Errorf("read shipments: %w", err)
		}
		if sh.Items, err = decodeItems(items); err != nil {
			return nil, err
		}
		sh.CompletedAt, sh.CreatedAt = fromUS(completed), fromUS(created)
		out = append(out, sh)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read shipments: %w", err)
	}
	return out, nil
}

// keyset appends the newest-first page condition and order to where/args.
func keyset(where string, args []any, tok string, size int) (string, []any, error) {
	c, ok, err := parseCursor(tok)
	if err != nil {
		return "", nil, err
	}
	if ok {
		where += ` AND (created_us < ? OR (created_us = ? AND id < ?))`
		args = append(args, c.us, c.us, c.id)
	}
	where += ` ORDER BY created_us DESC, id DESC LIMIT ?`
	// One more row than asked tells whether another page follows.
	args = append(args, size+1)
	return where, args, nil
}

// ListShipments implements orders.Reader.
func (s *Store) ListShipments(ctx context.Context, f orders.ShipmentFilter, p orders.Page) ([]orders.Shipment, string, error) {
	size, err := pageSize(p)
	if err != nil {
		return nil, "", err
	}
	where, args := `WHERE 1 = 1`, []any{}
	if f.CustomerID != "" {
		where, args = where+` AND customer_id = ?`, append(args, f.CustomerID)
	}
	where, args, err = keyset(where, args, p.Token, size)
	if err != nil {
		return nil, "", err
	}
	out, err := s.queryShipments(ctx, s.db, where, args...)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(out) > size {
		out = out[:size]
		last := out[size-1]
		next = cursor{us: us(last.CreatedAt), id: last.ID}.token()
	}
	return out, next, nil
}

// ListInvoices implements orders.Reader.
func (s *Store) ListInvoices(ctx context.Context, f orders.InvoiceFilter, p orders.Page) ([]orders.Invoice, string, error) {
	size, err := pageSize(p)
	if err != nil {
		return nil, "", err
	}
	where, args := `WHERE 1 = 1`, []any{}
	if f.CustomerID != "" {
		where, args = where+` AND customer_id = ?`, append(args, f.CustomerID)
	}
	if f.Month != "" {
		m, err := orders.ParseMonth(f.Month)
		if err != nil {
			return nil, "", err
		}
		where, args = where+` AND month = ?`, append(args, m.String())
	}
	where, args, err = keyset(where, args, p.Token, size)
	if err != nil {
		return nil, "", err
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT id, customer_id, month, total_cents, created_us FROM invoices `+where), args...)
	if err != nil {
		return nil, "", fmt.Errorf("read invoices: %w", err)
	}
	var out []orders.Invoice
	for rows.Next() {
		var inv orders.Invoice
		var month string
		var created int64
		if err := rows.Scan(&inv.ID, &inv.CustomerID, &month, &inv.TotalCents, &created); err != nil {
			_ = rows.Close()
			return nil, "", fmt.Errorf("read invoices: %w", err)
		}
		if inv.Month, err = orders.ParseMonth(month); err != nil {
			_ = rows.Close()
			return nil, "", fmt.Errorf("read invoices: %w", err)
		}
		inv.CreatedAt = fromUS(created)
		out = append(out, inv)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, "", fmt.Errorf("read invoices: %w", err)
	}
	next := ""
	if len(out) > size {
		out = out[:size]
		last := out[size-1]
		next = cursor{us: us(last.CreatedAt), id: last.ID}.token()
	}
	for i := range out {
		if out[i].Lines, err = s.invoiceLines(ctx, out[i].ID); err != nil {
			return nil, "", err
		}
	}
	return out, next, nil
}

func (s *Store) invoiceLines(ctx context.Context, id string) ([]orders.InvoiceLine, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT kind, reference, description, amount_cents FROM invoice_lines
		WHERE invoice_id = ? ORDER BY kind, reference`), id)
	if err != nil {
		return nil, fmt.Errorf("read invoice lines: %w", err)
	}
	defer func() { _ = rows.Close() }()
	var out []orders.InvoiceLine
	for rows.Next() {
		var l orders.InvoiceLine
		var kind string
		if err := rows.Scan(&kind, &l.Reference, &l.Description, &l.AmountCents); err != nil {
			return nil, fmt.Errorf("read invoice lines: %w", err)
		}
		l.Kind = orders.InvoiceLineKind(kind)
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read invoice lines: %w", err)
	}
	return out, nil
}

// ListNotifications implements orders.Reader.
func (s *Store) ListNotifications(ctx context.Context, f orders.NotificationFilter, p orders.Page) ([]orders.Notification, string, error) {
	size, err := pageSize(p)
	if err != nil {
		return nil, "", err
	}
	where, args := `WHERE 1 = 1`, []any{}
	if f.Status != "" {
		where, args = where+` AND status = ?`, append(args, string(f.Status))
	}
	if f.OrderID != "" {
		where, args = where+` AND order_id = ?`, append(args, f.OrderID)
	}
	where, args, err = keyset(where, args, p.Token, size)
	if err != nil {
		return nil, "", err
	}
	out, err := s.queryNotifications(ctx, s.db, where, args...)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(out) > size {
		out = out[:size]
		last := out[size-1]
		next = cursor{us: us(last.CreatedAt), id: last.ID}.token()
	}
	return out, next, nil
}

const notificationColumns = `id, order_id, shipment_id, body, traceparent, tracestate, status, attempts, last_error, last_status_code,
	next_attempt_us, delivered_us, created_us`

func (s *Store) queryNotifications(ctx context.Context, q querier, where string, args ...any) ([]orders.Notification, error) {
	rows, err := q.QueryContext(ctx, s.q(`SELECT `+notificationColumns+` FROM fulfillment_notifications `+where), args...)
	if err != nil {
		return nil, fmt.Errorf("read fulfillment notifications: %w", err)
	}
	defer func() { _ = rows.Close() }()
	var out []orders.Notification
	for rows.Next() {
		var n orders.Notification
		var body, status string
		var next, delivered, created int64
		if err := rows.Scan(&n.ID, &n.OrderID, &n.ShipmentID, &body, &n.Trace.Parent, &n.Trace.State, &status, &n.Attempts,
			&n.LastError, &n.LastStatusCode, &next, &delivered, &created); err != nil {
			return nil, fmt.Errorf("read fulfillment notifications: %w", err)
		}
		n.Body, n.Status = []byte(body), orders.NotificationStatus(status)
		n.NextAttemptAt, n.DeliveredAt, n.CreatedAt = fromUS(next), fromUS(delivered), fromUS(created)
		if n.Status != orders.NotificationPending {
			n.NextAttemptAt = time.Time{}
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read fulfillment notifications: %w", err)
	}
	return out, nil
}

// ListStock implements orders.Reader.
func (s *Store) ListStock(ctx context.Context, p orders.Page) ([]orders.StockLevel, string, error) {
	size, err := pageSize(p)
	if err != nil {
		return nil, "", err
	}
	after := ""
	if p.Token != "" {
		c, _, err := parseCursor(p.Token)
		if err != nil {
			return nil, "", err
		}
		after = c.id
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT sku, name, quantity, updated_us FROM stock WHERE sku > ? ORDER BY sku LIMIT ?`), after, size+1)
	if err != nil {
		return nil, "", fmt.Errorf("read stock: %w", err)
	}
	defer func() { _ = rows.Close() }()
	var out []orders.StockLevel
	for rows.Next() {
		var l orders.StockLevel
		var updated int64
		if err := rows.Scan(&l.SKU, &l.Name, &l.Quantity, &updated); err != nil {
			return nil, "", fmt.Errorf("read stock: %w", err)
		}
		l.UpdatedAt = fromUS(updated)
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("read stock: %w", err)
	}
	next := ""
	if len(out) > size {
		out = out[:size]
		next = cursor{id: out[size-1].SKU}.token()
	}
	return out, next, nil
}
