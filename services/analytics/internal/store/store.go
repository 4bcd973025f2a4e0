// Package store keeps analytics in one database/sql store (SQLite or PostgreSQL
// through platform/sqlstore): raw events until retention, and hourly counts and
// hourly active users, which are kept.
//
// Apply is the groupcommit.Applier of the group committer: one transaction per batch, one
// savepoint per event (so one bad event never fails its batch), the (source, id)
// marker in the same transaction as the effect, and the batch's aggregate updates
// summed in memory and written once per key, in key order, at the end.
package store

import (
	"cmp"
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"

	"github.com/hookmesh/hookmesh/platform/sqlstore"
	"github.com/hookmesh/hookmesh/services/analytics/internal/analytics"
	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Consumer is the name the processed-event markers are kept under.
const Consumer = "analytics"

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations returns the store's embedded migrations for sqlstore.Open.
func Migrations() fs.FS {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		// fs.Sub fails only for an invalid path literal, fixed at compile time.
		panic(fmt.Sprintf("analytics migrations: %v", err))
	}
	return sub
}

// Store is the analytics store. It is safe for concurrent use, but Apply is meant
// to be called by one writer (the group committer).
type Store struct {
	db *sqlstore.DB
	d  sqlstore.Dialect
}

// New wraps an opened, migrated sqlstore.DB.
func New(db *sqlstore.DB) (*Store, error) {
	if db == nil {
		return nil, errors.New("analytics store: db is required")
	}
	return &Store{db: db, d: db.Dialect()}, nil
}

type countKey struct {
	hour int64
	name string
}

type countDelta struct {
	tracked              bool
	n, amountCents, item int64
}

type userKey struct {
	hour int64
	user string
}

// Apply writes recs in one transaction: per record, in its own savepoint, the
// processed marker, the raw event and any cleanup; then the summed aggregates.
// A record's result is nil, analytics.ErrDuplicate, or an error wrapping
// analytics.ErrInvalid (the database refused that record alone) or
// analytics.ErrUnavailable. err is set when nothing was committed.
func (s *Store) Apply(ctx context.Context, recs []analytics.Record) ([]error, error) {
	results := make([]error, len(recs))
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		// Prepared once per batch: parsing SQL is a large share of a small insert.
		insert, err := tx.PrepareContext(ctx, s.d.Rebind(insertEvent))
		if err != nil {
			return fmt.Errorf("prepare event insert: %w", err)
		}
		defer insert.Close()
		counts := map[countKey]*countDelta{}
		users := map[userKey]struct{}{}
		for i, rec := range recs {
			var (
				fnErr error
				dup   bool
			)
			err := sqlstore.Savepoint(ctx, tx, "analytics_event", func() error {
				dup, fnErr = s.applyOne(ctx, tx, insert, rec)
				return fnErr
			})
			switch {
			case err == nil && dup:
				results[i] = analytics.ErrDuplicate
				continue
			case err == nil:
			case err != fnErr: // Savepoint returns fn's error itself unless the savepoint failed
				// The savepoint itself failed: the transaction is unusable.
				return fmt.Errorf("event %s/%s: %w", rec.Source, rec.EventID, err)
			case isInvalidData(fnErr):
				results[i] = fmt.Errorf("%w: event %s/%s refused by the database: %w", analytics.ErrInvalid, rec.Source, rec.EventID, fnErr)
				continue
			default:
				results[i] = fmt.Errorf("%w: event %s/%s: %w", analytics.ErrUnavailable, rec.Source, rec.EventID, fnErr)
				continue
			}
			hour := rec.HourStart().Unix()
			add := func(name string, tracked bool, amount, items int64) {
				k := countKey{hour, name}
				d := counts[k]
				if d == nil {
					d = &countDelta{tracked: tracked}
					counts[k] = d
				}
				d.n++
				d.amountCents += amount
				d.item += items
			}
			add(rec.Type, false, 0, 0)
			for _, m := range rec.Metrics {
				add(m.Name, true, m.AmountCents, m.Items)
			}
			for _, u := range rec.UserIDs {
				users[userKey{hour, u}] = struct{}{}
			}
		}
		if err := s.addCounts(ctx, tx, counts); err != nil {
			return err
		}
		return s.addUsers(ctx, tx, users)
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

const insertEvent = `INSERT INTO analytics_events
	(source, event_id, event_type, name, user_id, occurred_at, properties) VALUES (?, ?, ?, ?, ?, ?, ?)`

// applyOne writes one record; dup reports that (source, id) was applied before.
func (s *Store) applyOne(ctx context.Context, tx *sql.Tx, insert *sql.Stmt, rec analytics.Record) (dup bool, err error) {
	first, err := sqlstore.MarkProcessed(ctx, tx, s.d, Consumer, rec.Source, rec.EventID)
	if err != nil {
		return false, err
	}
	if !first {
		return true, nil
	}
	props, err := json.Marshal(rec.Properties)
	if err != nil {
		return false, fmt.Errorf("encode properties: %w", err)
	}
	var user any
	if len(rec.UserIDs) > 0 {
		user = rec.UserIDs[0]
	}
	_, err = insert.ExecContext(ctx, rec.Source, rec.EventID, rec.Type, rec.Name, user, rec.OccurredAt.UnixMilli(), string(props))
	if err != nil {
		return false, fmt.Errorf("insert event: %w", err)
	}
	if !rec.CleanupBefore.IsZero() {
		if _, err := tx.ExecContext(ctx, s.d.Rebind(`DELETE FROM analytics_events WHERE occurred_at < ?`),
			rec.CleanupBefore.UnixMilli()); err != nil {
			return false, fmt.Errorf("delete expired events: %w", err)
		}
	}
	return false, nil
}

// rowsPerStatement keeps multi-row statements well under both databases' limits on
// bound parameters.
const rowsPerStatement = 200

func (s *Store) addCounts(ctx context.Context, tx *sql.Tx, counts map[countKey]*countDelta) error {
	keys := make([]countKey, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	// One order for every writer, so concurrent PostgreSQL writers (replicas) lock
	// rows in the same order and do not deadlock.
	slices.SortFunc(keys, func(a, b countKey) int { return cmp.Or(cmp.Compare(a.hour, b.hour), strings.Compare(a.name, b.name)) })
	for chunk := range slices.Chunk(keys, rowsPerStatement) {
		var q strings.Builder
		q.WriteString("INSERT INTO hourly_counts (hour, name, tracked, n, amount, items) VALUES ")
		args := make([]any, 0, 6*len(chunk))
		for i, k := range chunk {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString("(?, ?, ?, ?, ?, ?)")
			d := counts[k]
			tracked := 0
			if d.tracked {
				tracked = 1
			}
			args = append(args, k.hour, k.name, tracked, d.n, d.amountCents, d.item)
		}
		q.WriteString(` ON CONFLICT (hour, name) DO UPDATE SET n = hourly_counts.n + excluded.n,
			amount = hourly_counts.amount + excluded.amount, items = hourly_counts.items + excluded.items`)
		if _, err := tx.ExecContext(ctx, s.d.Rebind(q.String()), args...); err != nil {
			return fmt.Errorf("update hourly counts: %w", err)
		}
	}
	return nil
}

func (s *Store) addUsers(ctx context.Context, tx *sql.Tx, users map[userKey]struct{}) error {
	keys := make([]userKey, 0, len(users))
	for k := range users {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b userKey) int { return cmp.Or(cmp.Compare(a.hour, b.hour), strings.Compare(a.user, b.user)) })
	for chunk := range slices.Chunk(keys, rowsPerStatement) {
		var q strings.Builder
		q.WriteString("INSERT INTO active_users (hour, user_id) VALUES ")
		args := make([]any, 0, 2*len(chunk))
		for i, k := range chunk {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString("(?, ?)")
			args = append(args, k.hour, k.user)
		}
		q.WriteString(" ON CONFLICT (hour, user_id) DO NOTHING")
		if _, err := tx.ExecContext(ctx, s.d.Rebind(q.String()), args...); err != nil {
			return fmt.Errorf("update active users: %w", err)
		}
	}
	return nil
}

// isInvalidData reports a database error caused by the data of one statement
// (a CHECK or NOT NULL constraint, a value the column cannot hold), as opposed to
// the database being unavailable.
func isInvalidData(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// Class 22: data exception; class 23: integrity constraint violation.
		return strings.HasPrefix(pgErr.Code, "22") || strings.HasPrefix(pgErr.Code, "23")
	}
	var sqlErr *sqlite.Error
	if errors.As(err, &sqlErr) {
		switch sqlErr.Code() & 0xff { // primary result code
		case sqlite3.SQLITE_CONSTRAINT, sqlite3.SQLITE_TOOBIG, sqlite3.SQLITE_MISMATCH:
			return true
		}
	}
	return false
}

// HourlyCounts implements analytics.Reader.
func (s *Store) HourlyCounts(ctx context.Context, since, until time.Time, glob string) ([]analytics.HourlyCount, error) {
	q := `SELECT hour, name, tracked, n, amount, items FROM hourly_counts WHERE hour >= ? AND hour < ?`
	args := []any{since.Unix(), until.Unix()}
	if glob != "" {
		// LIKE narrows (it ignores ASCII case on SQLite); globMatch decides.
		q += ` AND name LIKE ? ESCAPE '\'`
		args = append(args, globToLike(glob))
	}
	rows, err := s.db.QueryContext(ctx, s.d.Rebind(q+` ORDER BY hour, name`), args...)
	if err != nil {
		return nil, fmt.Errorf("query hourly counts: %w", err)
	}
	defer rows.Close()
	var out []analytics.HourlyCount
	for rows.Next() {
		var (
			hour    int64
			tracked int
			c       analytics.HourlyCount
		)
		if err := rows.Scan(&hour, &c.Name, &tracked, &c.Count, &c.AmountCents, &c.Items); err != nil {
			return nil, fmt.Errorf("scan hourly counts: %w", err)
		}
		if glob != "" && !globMatch(glob, c.Name) {
			continue
		}
		c.Hour = time.Unix(hour, 0).UTC()
		c.Tracked = tracked == 1
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read hourly counts: %w", err)
	}
	return out, nil
}

// rangesPerStatement bounds the ranges (3 parameters each) per distinct-users query.
const rangesPerStatement = 400

// DistinctUsers implements analytics.Reader. The ranges must be contiguous and in
// order; total covers [first start, last end).
func (s *Store) DistinctUsers(ctx context.Context, ranges []analytics.Range) ([]int64, int64, error) {
	if len(ranges) == 0 {
		return nil, 0, nil
	}
	for i := 1; i < len(ranges); i++ {
		if !ranges[i].Start.Equal(ranges[i-1].End) {
			return nil, 0, errors.New("distinct users: ranges are not contiguous")
		}
	}
	per := make([]int64, len(ranges))
	for base := 0; base < len(ranges); base += rangesPerStatement {
		chunk := ranges[base:min(base+rangesPerStatement, len(ranges))]
		var q strings.Builder
		q.WriteString("WITH r (i, s, e) AS (VALUES ")
		args := make([]any, 0, 3*len(chunk))
		for i, r := range chunk {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString("(CAST(? AS BIGINT), CAST(? AS BIGINT), CAST(? AS BIGINT))")
			args = append(args, base+i, r.Start.Unix(), r.End.Unix())
		}
		q.WriteString(") SELECT r.i, COUNT(DISTINCT a.user_id) FROM r JOIN active_users a ON a.hour >= r.s AND a.hour < r.e GROUP BY r.i")
		if err := s.scanPairs(ctx, q.String(), args, per); err != nil {
			return nil, 0, err
		}
	}
	var total int64
	err := s.db.QueryRowContext(ctx, s.d.Rebind(`SELECT COUNT(DISTINCT user_id) FROM active_users WHERE hour >= ? AND hour < ?`),
		ranges[0].Start.Unix(), ranges[len(ranges)-1].End.Unix()).Scan(&total)
	if err != nil {
		return nil, 0, fmt.Errorf("count distinct users: %w", err)
	}
	return per, total, nil
}

func (s *Store) scanPairs(ctx context.Context, q string, args []any, into []int64) error {
	rows, err := s.db.QueryContext(ctx, s.d.Rebind(q), args...)
	if err != nil {
		return fmt.Errorf("count distinct users per day: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var i, n int64
		if err := rows.Scan(&i, &n); err != nil {
			return fmt.Errorf("scan distinct users per day: %w", err)
		}
		if i < 0 || int(i) >= len(into) {
			return fmt.Errorf("distinct users per day: range index %d out of bounds", i)
		}
		into[i] = n
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read distinct users per day: %w", err)
	}
	return nil
}

// RawEvents counts the raw events kept (for tests and the retention check).
func (s *Store) RawEvents(ctx context.Context) (int64, error) {
	var n int64
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM analytics_events`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count raw events: %w", err)
	}
	return n, nil
}

// EventStored reports whether the raw event (source, id) is kept.
func (s *Store) EventStored(ctx context.Context, source, id string) (bool, error) {
	var n int64
	err := s.db.QueryRowContext(ctx, s.d.Rebind(`SELECT COUNT(*) FROM analytics_events WHERE source = ? AND event_id = ?`), source, id).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("look up event: %w", err)
	}
	return n > 0, nil
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.db.Ping(ctx) }

// globToLike turns a "*" glob into a LIKE pattern with "\" as the escape character.
func globToLike(glob string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`, `*`, `%`)
	return r.Replace(glob)
}

// globMatch reports whether name matches glob, where "*" matches any run of
// characters (dots included) and everything else matches itself.
func globMatch(glob, name string) bool {
	parts := strings.Split(glob, "*")
	if len(parts) == 1 {
		return glob == name
	}
	if !strings.HasPrefix(name, parts[0]) {
		return false
	}
	name = name[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(name, p)
		if i < 0 {
			return false
		}
		name = name[i+len(p):]
	}
	return strings.HasSuffix(name, last)
}
