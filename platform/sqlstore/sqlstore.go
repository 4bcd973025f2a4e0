// Package sqlstore is the one database/sql store every service builds on: SQLite
// (modernc.org/sqlite, no cgo) by default and PostgreSQL (pgx) when a URL is
// given, with embedded migrations and the processed-event table that makes
// consumers idempotent on (source, id).
//
// On SQLite all writes go through a single writer connection whose transactions
// start with BEGIN IMMEDIATE, so writers queue in Go instead of failing with
// SQLITE_BUSY; reads use a separate read-only pool (WAL lets them run alongside
// the writer).
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Config says which database to open and how to migrate it.
type Config struct {
	// URL is a postgres:// (or postgresql://) URL. Empty selects SQLite.
	URL string
	// SQLitePath is the SQLite database file, used when URL is empty. Its
	// directory is created if missing.
	SQLitePath string
	// Schema is the PostgreSQL schema, created if missing and put first on every
	// connection's search_path. Empty keeps the server's default. Ignored for SQLite.
	Schema string
	// Migrations holds NNN_name.sql files (both dialects) and
	// NNN_name.sqlite.sql / NNN_name.postgres.sql (one dialect, preferred over
	// the plain file of the same number), at the root of the FS or, when the
	// root has none, under migrations/ (so `//go:embed migrations` works as is).
	// Nil means no migrations of the caller's own.
	Migrations fs.FS
	// MaxOpenConns bounds the PostgreSQL pool, or the SQLite read pool.
	// Default 16 for PostgreSQL, 4 for SQLite.
	MaxOpenConns int
	// BusyTimeout is how long a SQLite statement waits for a lock. Default 10s.
	BusyTimeout time.Duration
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

func (c *Config) setDefaults() {
	if c.MaxOpenConns == 0 {
		if c.URL == "" {
			c.MaxOpenConns = 4
		} else {
			c.MaxOpenConns = 16
		}
	}
	if c.BusyTimeout == 0 {
		c.BusyTimeout = 10 * time.Second
	}
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	if c.MaxOpenConns < 0 {
		return errors.New("sqlstore: MaxOpenConns must not be negative")
	}
	if c.BusyTimeout < 0 {
		return errors.New("sqlstore: BusyTimeout must not be negative")
	}
	if c.URL != "" {
		u, err := url.Parse(c.URL)
		if err != nil {
			// url.Error repeats the URL, which may hold a password.
			return errors.New("sqlstore: URL is not a valid URL")
		}
		if u.Scheme != "postgres" && u.Scheme != "postgresql" {
			return fmt.Errorf("sqlstore: URL scheme %q is not supported (want postgres://, or no URL for SQLite)", u.Scheme)
		}
		if c.Schema != "" && !identRE.MatchString(c.Schema) {
			return fmt.Errorf("sqlstore: schema %q is not a plain identifier ([A-Za-z_][A-Za-z0-9_]*, at most 63 characters)", c.Schema)
		}
		return nil
	}
	switch {
	case c.SQLitePath == "":
		return errors.New("sqlstore: SQLitePath is required when URL is empty")
	case c.SQLitePath == ":memory:" || strings.HasPrefix(c.SQLitePath, "file:"):
		return errors.New("sqlstore: SQLitePath must be a plain file path (the writer and the readers share the file)")
	case strings.ContainsRune(c.SQLitePath, '?'):
		return errors.New("sqlstore: SQLitePath must not contain '?'")
	}
	return nil
}

// DB is an open store. It is safe for concurrent use.
type DB struct {
	dialect Dialect
	writer  *sql.DB
	reader  *sql.DB

	mu     sync.Mutex
	groups []*Group // closed (their last batches committed) by Close
}

// Open connects, creates the schema (PostgreSQL), the bookkeeping tables and
// applies pending migrations in order.
func Open(ctx context.Context, cfg Config) (*DB, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var (
		db  *DB
		err error
	)
	if cfg.URL == "" {
		db, err = openSQLite(ctx, cfg)
	} else {
		db, err = openPostgres(ctx, cfg)
	}
	if err != nil {
		return nil, err
	}
	if err := db.migrate(ctx, cfg.Migrations, lockKey(cfg)); err != nil {
		_ = db.Close()
		return nil, err
	}
	return db, nil
}

func openSQLite(ctx context.Context, cfg Config) (*DB, error) {
	if dir := filepath.Dir(cfg.SQLitePath); dir != "." {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("create sqlite directory: %w", err)
		}
	}
	if err := privateFile(cfg.SQLitePath); err != nil {
		return nil, err
	}
	busy := strconv.FormatInt(cfg.BusyTimeout.Milliseconds(), 10)
	writer, err := sql.Open("sqlite", cfg.SQLitePath+"?_txlock=immediate&_pragma=busy_timeout("+busy+
		")&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(FULL)")
	if err != nil {
		return nil, fmt.Errorf("open sqlite writer: %w", err)
	}
	// One writer connection: concurrent transactions queue for it in
	// database/sql (honouring ctx) instead of racing for SQLite's lock.
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	writer.SetConnMaxIdleTime(0)
	// The writer's first connection switches the file to WAL before any reader opens it.
	if err := writer.PingContext(ctx); err != nil {
		_ = writer.Close()
		return nil, fmt.Errorf("open sqlite writer: %w", err)
	}
	reader, err := sql.Open("sqlite", cfg.SQLitePath+"?_pragma=busy_timeout("+busy+
		")&_pragma=foreign_keys(1)&_query_only=1")
	if err != nil {
		_ = writer.Close()
		return nil, fmt.Errorf("open sqlite readers: %w", err)
	}
	reader.SetMaxOpenConns(cfg.MaxOpenConns)
	reader.SetMaxIdleConns(cfg.MaxOpenConns)
	if err := reader.PingContext(ctx); err != nil {
		_ = writer.Close()
		_ = reader.Close()
		return nil, fmt.Errorf("open sqlite readers: %w", err)
	}
	return &DB{dialect: SQLite, writer: writer, reader: reader}, nil
}

// privateFile creates the database file 0600 (or narrows an older one to it)
// before SQLite opens it: SQLite gives its -wal and -shm files the database
// file's mode, and they hold whole messages.
func privateFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("create sqlite file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("create sqlite file: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := f.Chmod(0o600); err != nil {
			return fmt.Errorf("narrow sqlite file mode: %w", err)
		}
	}
	return nil
}

func openPostgres(ctx context.Context, cfg Config) (*DB, error) {
	connCfg, err := pgx.ParseConfig(cfg.URL)
	if err != nil {
		// pgconn redacts the password in its parse errors.
		return nil, fmt.Errorf("parse postgres URL: %w", err)
	}
	if cfg.Schema != "" {
		// Set before the schema exists: PostgreSQL resolves search_path per
		// statement, so connections opened now see the schema once created.
		connCfg.RuntimeParams["search_path"] = quoteIdent(cfg.Schema)
	}
	db := stdlib.OpenDB(*connCfg)
	db.SetMaxOpenConns(cfg.MaxOpenConns)
	db.SetMaxIdleConns(cfg.MaxOpenConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	if cfg.Schema != "" {
		if err := createSchema(ctx, db, cfg.Schema); err != nil {
			_ = db.Close()
			return nil, err
		}
	}
	return &DB{dialect: Postgres, writer: db, reader: db}, nil
}

func createSchema(ctx context.Context, db *sql.DB, schema string) error {
	_, err := db.ExecContext(ctx, "CREATE SCHEMA IF NOT EXISTS "+quoteIdent(schema))
	var pgErr *pgconn.PgError
	// Two processes creating the same schema at once can both pass IF NOT
	// EXISTS; the loser sees a unique violation, and the schema exists.
	if errors.As(err, &pgErr) && (pgErr.Code == "23505" || pgErr.Code == "42P06") {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("create schema: %w", err)
	}
	return nil
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// Dialect says which database this is.
func (db *DB) Dialect() Dialect { return db.dialect }

// SQL is the pool for reads. On SQLite it is read-only (PRAGMA query_only):
// writes go through Tx or ExecContext so that they use the single writer.
func (db *DB) SQL() *sql.DB { return db.reader }

// Tx runs fn in a write transaction and commits it when fn returns nil; any
// error (or panic) from fn rolls it back and is returned as is. Nothing is
// retried. On SQLite the transaction holds the only writer connection: fn must
// not call Tx or ExecContext on the same DB (that would wait for itself).
func (db *DB) Tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			_ = tx.Rollback()
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit transaction: %w", err)
	}
	committed = true
	return nil
}

// ExecContext runs one write statement in its own transaction on the writer.
// Placeholders are not rebound; use Dialect().Rebind.
func (db *DB) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return db.writer.ExecContext(ctx, query, args...)
}

// QueryContext runs a read on the read pool. Placeholders are not rebound.
func (db *DB) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return db.reader.QueryContext(ctx, query, args...)
}

// QueryRowContext runs a single-row read on the read pool. Placeholders are not rebound.
func (db *DB) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return db.reader.QueryRowContext(ctx, query, args...)
}

// Ping checks that the database answers (for readiness).
func (db *DB) Ping(ctx context.Context) error {
	if err := db.writer.PingContext(ctx); err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	return nil
}

// Close commits what the DB's Groups were given, then closes every connection.
func (db *DB) Close() error {
	db.mu.Lock()
	groups := db.groups
	db.groups = nil
	db.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var err error
	for _, g := range groups {
		err = errors.Join(err, g.c.Close(ctx))
	}
	err = errors.Join(err, db.writer.Close())
	if db.reader != db.writer {
		err = errors.Join(err, db.reader.Close())
	}
	return err
}
