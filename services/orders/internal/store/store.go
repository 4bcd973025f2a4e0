// Package store keeps the orders service's state in SQLite or PostgreSQL through
// platform/sqlstore: one database/sql implementation, queries written once with
// `?` placeholders and ON CONFLICT upserts that both databases accept.
package store

import (
	"context"
	"database/sql"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/hookmesh/hookmesh/platform/sqlstore"
	"github.com/hookmesh/hookmesh/services/orders/internal/orders"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations are the store's schema migrations, for sqlstore.Open.
var Migrations fs.FS = migrations

// Store implements orders.Store, orders.Reader and the outboxes of the publisher
// and the fulfillment sender.
type Store struct {
	db  *sqlstore.DB
	w   sqlstore.Writer // the effects' transactions
	d   sqlstore.Dialect
	now func() time.Time
}

var (
	_ orders.Store  = (*Store)(nil)
	_ orders.Reader = (*Store)(nil)
)

// New wraps an open, migrated database. now is the clock (nil = time.Now).
func New(db *sqlstore.DB, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{db: db, w: db.Writer(), d: db.Dialect(), now: now}
}

// GroupCommit makes the effects of concurrent deliveries share transactions
// (a savepoint each, one commit); g writes to the same DB.
func (s *Store) GroupCommit(g *sqlstore.Group) { s.w = g }

func (s *Store) q(query string) string { return s.d.Rebind(query) }

// tx runs fn in a transaction that first records ref as processed.
func (s *Store) tx(ctx context.Context, ref orders.EventRef, fn func(ctx context.Context, tx *sql.Tx) error) error {
	err := s.w.Tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		first, err := sqlstore.MarkProcessed(ctx, tx, s.d, orders.Consumer, ref.Source, ref.ID)
		if err != nil {
			return err
		}
		if !first {
			return fmt.Errorf("event %s/%s was processed before: %w", ref.Source, ref.ID, orders.ErrConflict)
		}
		return fn(ctx, tx)
	})
	return classify(err)
}

// classify turns the errors of losing a race into ErrAborted (retry).
func classify(err error) error {
	if err == nil {
		return nil
	}
	if sqlstore.IsUniqueViolation(err) {
		return fmt.Errorf("%w: %w", orders.ErrAborted, err)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (pgErr.Code == "40001" || pgErr.Code == "40P01") {
		return fmt.Errorf("%w: %w", orders.ErrAborted, err)
	}
	return err
}

func us(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromUS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMicro(v).UTC()
}

type itemJSON struct {
	SKU        string `json:"sku"`
	Quantity   int64  `json:"quantity"`
	PriceCents int64  `json:"price_cents"`
}

func encodeItems(items []orders.Item) (string, error) {
	out := make([]itemJSON, len(items))
	for i, it := range items {
		out[i] = itemJSON(it)
	}
	b, err := json.Marshal(out)
	if err != nil {
		return "", fmt.Errorf("encode items: %w", err)
	}
	return string(b), nil
}

func decodeItems(s string) ([]orders.Item, error) {
	var in []itemJSON
	if err := json.Unmarshal([]byte(s), &in); err != nil {
		return nil, fmt.Errorf("decode items: %w", err)
	}
	out := make([]orders.Item, len(in))
	for i, it := range in {
		out[i] = orders.Item(it)
	}
	return out, nil
}

// Page sizes of the read API.
const (
	DefaultPageSize = 50
	MaxPageSize     = 1000
)

func pageSize(p orders.Page) (int, error) {
	switch {
	case p.Size < 0:
		return 0, orders.Invalidf("page size %d is negative", p.Size)
	case p.Size == 0:
		return DefaultPageSize, nil
	case p.Size > MaxPageSize:
		return MaxPageSize, nil
	}
	return p.Size, nil
}

// cursor is a keyset position: the (time, id) of the last row of a page.
type cursor struct {
	us int64
	id string
}

func (c cursor) token() string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(c.us, 10) + ":" + c.id))
}

func parseCursor(tok string) (cursor, bool, error) {
	if tok == "" {
		return cursor{}, false, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return cursor{}, false, orders.Invalidf("malformed page token")
	}
	n, id, ok := strings.Cut(string(b), ":")
	v, err := strconv.ParseInt(n, 10, 64)
	if !ok || err != nil {
		return cursor{}, false, orders.Invalidf("malformed page token")
	}
	return cursor{us: v, id: id}, true, nil
}

// Ping checks the database (readiness).
func (s *Store) Ping(ctx context.Context) error { return s.db.Ping(ctx) }
