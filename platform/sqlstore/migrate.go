package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// migration is one file chosen for the open dialect.
type migration struct {
	version int64
	file    string
	sql     string
}

var migrationRE = regexp.MustCompile(`^([0-9]+)_([A-Za-z0-9_-]+?)(?:\.(sqlite|postgres))?\.sql$`)

// loadMigrations reads the migrations of fsys for dialect d, ordered by
// version. For each version a dialect-specific file wins over a plain one; a
// version with only the other dialect's file is an error, so the two databases
// cannot drift apart silently.
func loadMigrations(fsys fs.FS, d Dialect) ([]migration, error) {
	if fsys == nil {
		return nil, nil
	}
	dir, err := migrationDir(fsys)
	if err != nil {
		return nil, err
	}
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	type files struct{ plain, own, other string }
	byVersion := map[int64]*files{}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".sql") {
			continue
		}
		m := migrationRE.FindStringSubmatch(name)
		if m == nil {
			return nil, fmt.Errorf("migration %q: name must be NNN_name.sql, NNN_name.sqlite.sql or NNN_name.postgres.sql", name)
		}
		v, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("migration %q: version: %w", name, err)
		}
		f := byVersion[v]
		if f == nil {
			f = &files{}
			byVersion[v] = f
		}
		slot := &f.plain
		switch m[3] {
		case "":
		case d.Name():
			slot = &f.own
		default:
			slot = &f.other
		}
		if *slot != "" {
			return nil, fmt.Errorf("migrations %q and %q have the same version %d", *slot, name, v)
		}
		*slot = name
	}
	out := make([]migration, 0, len(byVersion))
	for v, f := range byVersion {
		file := f.own
		if file == "" {
			file = f.plain
		}
		if file == "" {
			return nil, fmt.Errorf("migration %d has no file for %s (only %q)", v, d.Name(), f.other)
		}
		body, err := fs.ReadFile(fsys, path.Join(dir, file))
		if err != nil {
			return nil, fmt.Errorf("read migration %q: %w", file, err)
		}
		out = append(out, migration{version: v, file: file, sql: string(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

// migrationDir is "." unless the root holds no .sql file and has a
// migrations/ directory.
func migrationDir(fsys fs.FS) (string, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return "", fmt.Errorf("read migrations: %w", err)
	}
	hasDir := false
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".sql") {
			return ".", nil
		}
		if e.IsDir() && e.Name() == "migrations" {
			hasDir = true
		}
	}
	if hasDir {
		return "migrations", nil
	}
	return ".", nil
}

func bootstrapSQL(d Dialect) []string {
	ts := "TIMESTAMP"
	if d == Postgres {
		ts = "TIMESTAMPTZ"
	}
	return []string{
		`CREATE TABLE IF NOT EXISTS schema_migrations (
			version BIGINT PRIMARY KEY,
			name TEXT NOT NULL,
			applied_at ` + ts + ` NOT NULL
		)`,
		`CREATE TABLE IF NOT EXISTS processed_events (
			consumer TEXT NOT NULL,
			source TEXT NOT NULL,
			event_id TEXT NOT NULL,
			processed_at ` + ts + ` NOT NULL,
			PRIMARY KEY (consumer, source, event_id)
		)`,
	}
}

// lockKey is the PostgreSQL advisory lock that serialises migrations of one
// schema across processes starting at once.
func lockKey(cfg Config) int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte("hookmesh/sqlstore/migrate:" + cfg.Schema))
	return int64(h.Sum64())
}

func (db *DB) lock(ctx context.Context, tx *sql.Tx, key int64) error {
	if db.dialect != Postgres {
		return nil // BEGIN IMMEDIATE on the single writer already serialises.
	}
	if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", key); err != nil {
		return fmt.Errorf("lock migrations: %w", err)
	}
	return nil
}

func (db *DB) migrate(ctx context.Context, fsys fs.FS, key int64) error {
	migrations, err := loadMigrations(fsys, db.dialect)
	if err != nil {
		return err
	}
	err = db.Tx(ctx, func(tx *sql.Tx) error {
		if err := db.lock(ctx, tx, key); err != nil {
			return err
		}
		for _, stmt := range bootstrapSQL(db.dialect) {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("create bookkeeping tables: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	// One transaction per migration, so a failure leaves the earlier ones applied
	// and recorded, and nothing of the failed one (DDL is transactional on both).
	for _, m := range migrations {
		err := db.Tx(ctx, func(tx *sql.Tx) error {
			if err := db.lock(ctx, tx, key); err != nil {
				return err
			}
			var one int
			err := tx.QueryRowContext(ctx, db.dialect.Rebind("SELECT 1 FROM schema_migrations WHERE version = ?"), m.version).Scan(&one)
			if err == nil {
				return nil // applied before
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("read schema_migrations: %w", err)
			}
			if strings.TrimSpace(m.sql) != "" {
				if _, err := tx.ExecContext(ctx, m.sql); err != nil {
					return fmt.Errorf("apply migration %s: %w", m.file, err)
				}
			}
			if _, err := tx.ExecContext(ctx, db.dialect.Rebind("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)"),
				m.version, m.file, time.Now().UTC()); err != nil {
				return fmt.Errorf("record migration %s: %w", m.file, err)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}
