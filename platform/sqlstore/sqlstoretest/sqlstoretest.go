// Package sqlstoretest runs store tests against every dialect: a temporary
// SQLite file, and PostgreSQL in a fresh schema when HOOKMESH_TEST_DATABASE_URL
// is set.
package sqlstoretest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hookmesh/hookmesh/platform/sqlstore"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver for cleanup
)

// DatabaseURLEnv names the PostgreSQL server tests use.
const DatabaseURLEnv = "HOOKMESH_TEST_DATABASE_URL"

// ForEachDialect runs fn as the subtests "sqlite" and "postgres", each on a
// fresh, migrated database that is closed (and, for PostgreSQL, dropped) when
// the subtest ends. Without HOOKMESH_TEST_DATABASE_URL the postgres subtest is
// skipped, or fails when CI=true.
func ForEachDialect(t *testing.T, migrations fs.FS, fn func(t *testing.T, db *sqlstore.DB)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		fn(t, SQLite(t, migrations))
	})
	t.Run("postgres", func(t *testing.T) {
		fn(t, Postgres(t, migrations))
	})
}

// SQLite opens a migrated store on a file in t.TempDir().
func SQLite(tb testing.TB, migrations fs.FS) *sqlstore.DB {
	tb.Helper()
	ctx, cancel := context.WithTimeout(tb.Context(), time.Minute)
	defer cancel()
	db, err := sqlstore.Open(ctx, sqlstore.Config{
		SQLitePath: filepath.Join(tb.TempDir(), "test.db"),
		Migrations: migrations,
	})
	if err != nil {
		tb.Fatalf("open sqlite store: %v", err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	return db
}

// PostgresURL returns HOOKMESH_TEST_DATABASE_URL, skipping the test when it is
// unset (failing it when CI=true).
func PostgresURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv(DatabaseURLEnv)
	if u == "" {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("%s is not set; PostgreSQL tests are required under CI=true", DatabaseURLEnv)
		}
		tb.Skipf("%s is not set; skipping the PostgreSQL variant", DatabaseURLEnv)
	}
	return u
}

// Postgres opens a migrated store in a new random schema of the test server;
// the schema is dropped at cleanup.
func Postgres(tb testing.TB, migrations fs.FS) *sqlstore.DB {
	tb.Helper()
	u := PostgresURL(tb)
	schema := NewSchemaName(tb)
	ctx, cancel := context.WithTimeout(tb.Context(), time.Minute)
	defer cancel()
	// Registered before Open so a failed migration still drops its schema.
	tb.Cleanup(func() { DropSchema(tb, u, schema) })
	db, err := sqlstore.Open(ctx, sqlstore.Config{URL: u, Schema: schema, Migrations: migrations})
	if err != nil {
		tb.Fatalf("open postgres store: %v", err)
	}
	tb.Cleanup(func() { _ = db.Close() })
	return db
}

// NewSchemaName returns a random schema name, unique per call.
func NewSchemaName(tb testing.TB) string {
	tb.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		tb.Fatalf("random schema name: %v", err)
	}
	return "test_" + hex.EncodeToString(b[:])
}

// DropSchema drops schema and everything in it.
func DropSchema(tb testing.TB, url, schema string) {
	tb.Helper()
	// Not tb.Context(): this runs in a cleanup, when that is already cancelled.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) //nolint:usetesting // see above
	defer cancel()
	db, err := sql.Open("pgx", url)
	if err != nil {
		tb.Errorf("drop schema %s: %v", schema, err)
		return
	}
	defer func() { _ = db.Close() }()
	if _, err := db.ExecContext(ctx, `DROP SCHEMA IF EXISTS "`+schema+`" CASCADE`); err != nil {
		tb.Errorf("drop schema %s: %v", schema, err)
	}
}
