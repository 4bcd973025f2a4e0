package sqlstore_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/hookmesh/hookmesh/platform/sqlstore"
	"github.com/hookmesh/hookmesh/platform/sqlstore/sqlstoretest"
)

// testMigrations exercises plain, dialect-specific and multi-statement files.
var testMigrations = fstest.MapFS{
	"001_items.sql": {Data: []byte(`
		CREATE TABLE items (id TEXT PRIMARY KEY, n INTEGER NOT NULL DEFAULT 0);
		CREATE TABLE notes (id TEXT PRIMARY KEY, item_id TEXT NOT NULL REFERENCES items(id));
	`)},
	"002_dialect.sqlite.sql":   {Data: []byte(`CREATE TABLE dialect (name TEXT); INSERT INTO dialect VALUES ('sqlite');`)},
	"002_dialect.postgres.sql": {Data: []byte(`CREATE TABLE dialect (name TEXT); INSERT INTO dialect VALUES ('postgres');`)},
	"003_counter.sql":          {Data: []byte(`CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL); INSERT INTO counter VALUES (1, 0);`)},
	"004_empty.sql":            {Data: []byte("\n")},
	"README.md":                {Data: []byte("not a migration")},
}

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestMigrations(t *testing.T) {
	sqlstoretest.ForEachDialect(t, testMigrations, func(t *testing.T, db *sqlstore.DB) {
		ctx := ctxT(t)
		var name string
		if err := db.SQL().QueryRowContext(ctx, "SELECT name FROM dialect").Scan(&name); err != nil {
			t.Fatalf("read dialect table: %v", err)
		}
		if name != db.Dialect().Name() {
			t.Errorf("dialect migration = %q, want the %q file", name, db.Dialect().Name())
		}
		rows, err := db.QueryContext(ctx, "SELECT version, name FROM schema_migrations ORDER BY version")
		if err != nil {
			t.Fatalf("read schema_migrations: %v", err)
		}
		defer func() { _ = rows.Close() }()
		var got []string
		for rows.Next() {
			var v int64
			var n string
			if err := rows.Scan(&v, &n); err != nil {
				t.Fatal(err)
			}
			got = append(got, fmt.Sprintf("%d:%s", v, n))
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		want := []string{"1:001_items.sql", "2:002_dialect." + db.Dialect().Name() + ".sql", "3:003_counter.sql", "4:004_empty.sql"}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("schema_migrations = %v, want %v", got, want)
		}
		// Foreign keys are enforced on both.
		err = db.Tx(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, db.Dialect().Rebind("INSERT INTO notes (id, item_id) VALUES (?, ?)"), "n1", "missing")
			return err
		})
		if err == nil {
			t.Error("insert violating a foreign key succeeded")
		}
	})
}

func TestMigrationsReopen(t *testing.T) {
	ctx := ctxT(t)
	path := filepath.Join(t.TempDir(), "re.db")
	open := func(m fstest.MapFS) (*sqlstore.DB, error) {
		return sqlstore.Open(ctx, sqlstore.Config{SQLitePath: path, Migrations: m})
	}
	db, err := open(testMigrations)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "UPDATE counter SET n = 7"); err != nil {
		t.Fatal(err)
	}
	_ = db.Close()

	// Reopening applies only the new migration; 003's INSERT would fail if rerun.
	more := fstest.MapFS{}
	for k, v := range testMigrations {
		more[k] = v
	}
	more["005_more.sql"] = &fstest.MapFile{Data: []byte("ALTER TABLE items ADD COLUMN label TEXT")}
	db, err = open(more)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer func() { _ = db.Close() }()
	var n int
	if err := db.QueryRowContext(ctx, "SELECT n FROM counter").Scan(&n); err != nil || n != 7 {
		t.Errorf("counter = %d, %v; want 7 (migrations must not rerun)", n, err)
	}
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM schema_migrations").Scan(&n); err != nil || n != 5 {
		t.Errorf("schema_migrations rows = %d, %v; want 5", n, err)
	}
}

func TestMigrationFailureRollsBack(t *testing.T) {
	bad := fstest.MapFS{
		"001_ok.sql":  {Data: []byte("CREATE TABLE ok (id INTEGER)")},
		"002_bad.sql": {Data: []byte("CREATE TABLE half (id INTEGER); THIS IS NOT SQL")},
	}
	run := func(t *testing.T, cfg sqlstore.Config, check func(ctx context.Context) *sql.DB) {
		ctx := ctxT(t)
		_, err := sqlstore.Open(ctx, cfg)
		if err == nil || !strings.Contains(err.Error(), "002_bad.sql") {
			t.Fatalf("Open error = %v, want one naming 002_bad.sql", err)
		}
		db := check(ctx)
		defer func() { _ = db.Close() }()
		var n int
		if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM schema_migrations").Scan(&n); err != nil || n != 1 {
			t.Errorf("recorded migrations = %d, %v; want only 001", n, err)
		}
		if _, err := db.ExecContext(ctx, "SELECT * FROM half"); err == nil {
			t.Error("table from the failed migration exists")
		}
	}
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "bad.db")
		run(t, sqlstore.Config{SQLitePath: path, Migrations: bad}, func(ctx context.Context) *sql.DB {
			db, err := sql.Open("sqlite", path)
			if err != nil {
				t.Fatal(err)
			}
			return db
		})
	})
	t.Run("postgres", func(t *testing.T) {
		u := sqlstoretest.PostgresURL(t)
		schema := sqlstoretest.NewSchemaName(t)
		t.Cleanup(func() { sqlstoretest.DropSchema(t, u, schema) })
		run(t, sqlstore.Config{URL: u, Schema: schema, Migrations: bad}, func(ctx context.Context) *sql.DB {
			db, err := sql.Open("pgx", u)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.ExecContext(ctx, "SET search_path TO "+schema); err != nil {
				t.Fatal(err)
			}
			db.SetMaxOpenConns(1)
			return db
		})
	})
}

func TestMigrationFiles(t *testing.T) {
	tests := []struct {
		name    string
		fs      fstest.MapFS
		wantErr string
	}{
		{"bad name", fstest.MapFS{"init.sql": {}}, `migration "init.sql": name must be`},
		{"duplicate version", fstest.MapFS{"001_a.sql": {}, "001_b.sql": {}}, "have the same version 1"},
		{"duplicate dialect version", fstest.MapFS{"001_a.sqlite.sql": {}, "1_b.sqlite.sql": {}}, "have the same version 1"},
		{"only other dialect", fstest.MapFS{"001_a.sql": {}, "002_b.postgres.sql": {}}, "migration 2 has no file for sqlite"},
		{"subdirectory", fstest.MapFS{"migrations/001_a.sql": {Data: []byte("CREATE TABLE sub (id INTEGER)")}}, ""},
		{"dialect wins over plain", fstest.MapFS{
			"001_a.sql":        {Data: []byte("THIS WOULD FAIL")},
			"001_a.sqlite.sql": {Data: []byte("CREATE TABLE sub (id INTEGER)")},
		}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db, err := sqlstore.Open(ctxT(t), sqlstore.Config{SQLitePath: filepath.Join(t.TempDir(), "m.db"), Migrations: tc.fs})
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				defer func() { _ = db.Close() }()
				if _, err := db.QueryContext(ctxT(t), "SELECT * FROM sub"); err != nil {
					t.Errorf("migration not applied: %v", err)
				}
				return
			}
			if err == nil {
				_ = db.Close()
				t.Fatalf("Open succeeded, want error containing %q", tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Open error = %q, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name    string
		cfg     sqlstore.Config
		wantErr string
	}{
		{"no path", sqlstore.Config{}, "SQLitePath is required"},
		{"memory", sqlstore.Config{SQLitePath: ":memory:"}, "plain file path"},
		{"uri", sqlstore.Config{SQLitePath: "file:x.db"}, "plain file path"},
		{"query", sqlstore.Config{SQLitePath: "x.db?mode=ro"}, "must not contain '?'"},
		{"scheme", sqlstore.Config{URL: "mysql://u@h/db"}, `scheme "mysql" is not supported`},
		{"bad url hides password", sqlstore.Config{URL: "postgres://u:s3cret@h:badport/db"}, "not a valid URL"},
		{"schema", sqlstore.Config{URL: "postgres://u@127.0.0.1/db", Schema: `x"; DROP`}, "not a plain identifier"},
		{"negative conns", sqlstore.Config{SQLitePath: "x.db", MaxOpenConns: -1}, "MaxOpenConns"},
		{"unreachable", sqlstore.Config{URL: "postgres://u:s3cret@127.0.0.1:1/db?connect_timeout=2"}, "connect to postgres"},
		{"sqlite dir is a file", sqlstore.Config{SQLitePath: "/dev/null/x.db"}, "create sqlite directory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db, err := sqlstore.Open(ctxT(t), tc.cfg)
			if err == nil {
				_ = db.Close()
				t.Fatalf("Open succeeded, want error containing %q", tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Open error = %q, want it to contain %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error leaks the password: %q", err)
			}
		})
	}
}

func TestRebind(t *testing.T) {
	tests := []struct {
		name, in, pg string
	}{
		{"none", "SELECT 1", "SELECT 1"},
		{"args", "INSERT INTO t (a, b) VALUES (?, ?)", "INSERT INTO t (a, b) VALUES ($1, $2)"},
		{"string literal", "SELECT '?', a FROM t WHERE b = ?", "SELECT '?', a FROM t WHERE b = $1"},
		{"escaped quote", "SELECT 'it''s ?' WHERE a = ?", "SELECT 'it''s ?' WHERE a = $1"},
		{"identifier", `SELECT "we?rd" FROM t WHERE a = ?`, `SELECT "we?rd" FROM t WHERE a = $1`},
		{"line comment", "SELECT a -- why?\nFROM t WHERE a = ?", "SELECT a -- why?\nFROM t WHERE a = $1"},
		{"block comment", "SELECT /* ? */ a WHERE a = ? AND b = ?", "SELECT /* ? */ a WHERE a = $1 AND b = $2"},
		{"unterminated", "SELECT 'abc ?", "SELECT 'abc ?"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := sqlstore.Postgres.Rebind(tc.in); got != tc.pg {
				t.Errorf("Postgres.Rebind(%q) = %q, want %q", tc.in, got, tc.pg)
			}
			if got := sqlstore.SQLite.Rebind(tc.in); got != tc.in {
				t.Errorf("SQLite.Rebind(%q) = %q, want unchanged", tc.in, got)
			}
		})
	}
	if sqlstore.SQLite.Name() != "sqlite" || sqlstore.Postgres.Name() != "postgres" {
		t.Errorf("names = %q, %q", sqlstore.SQLite.Name(), sqlstore.Postgres.Name())
	}
}

func TestTx(t *testing.T) {
	sqlstoretest.ForEachDialect(t, testMigrations, func(t *testing.T, db *sqlstore.DB) {
		ctx := ctxT(t)
		d := db.Dialect()
		insert := func(tx *sql.Tx, id string) error {
			_, err := tx.ExecContext(ctx, d.Rebind("INSERT INTO items (id) VALUES (?)"), id)
			return err
		}
		errBoom := errors.New("boom")
		if err := db.Tx(ctx, func(tx *sql.Tx) error {
			if err := insert(tx, "rolled-back"); err != nil {
				return err
			}
			return errBoom
		}); !errors.Is(err, errBoom) {
			t.Errorf("Tx error = %v, want fn's error", err)
		}
		func() {
			defer func() {
				if recover() == nil {
					t.Error("panic in fn was swallowed")
				}
			}()
			_ = db.Tx(ctx, func(tx *sql.Tx) error {
				if err := insert(tx, "panicked"); err != nil {
					return err
				}
				panic("boom")
			})
		}()
		if err := db.Tx(ctx, func(tx *sql.Tx) error { return insert(tx, "kept") }); err != nil {
			t.Fatalf("Tx: %v", err)
		}
		if got := itemIDs(t, db); got != "kept" {
			t.Errorf("items = %q, want only the committed one", got)
		}
		err := db.Tx(ctx, func(tx *sql.Tx) error { return insert(tx, "kept") })
		if !sqlstore.IsUniqueViolation(err) {
			t.Errorf("IsUniqueViolation(%v) = false, want true", err)
		}
		if sqlstore.IsUniqueViolation(errBoom) {
			t.Error("IsUniqueViolation(plain error) = true")
		}
		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		if err := db.Tx(cancelled, func(*sql.Tx) error { return nil }); !errors.Is(err, context.Canceled) {
			t.Errorf("Tx on a cancelled ctx = %v, want context.Canceled", err)
		}
		if err := db.Ping(ctx); err != nil {
			t.Errorf("Ping: %v", err)
		}
	})
}

func TestReadPoolIsReadOnlyOnSQLite(t *testing.T) {
	db := sqlstoretest.SQLite(t, testMigrations)
	_, err := db.SQL().ExecContext(ctxT(t), "INSERT INTO items (id) VALUES ('x')")
	if err == nil {
		t.Fatal("write through the read pool succeeded; writes must use the single writer")
	}
}

func itemIDs(t *testing.T, db *sqlstore.DB) string {
	t.Helper()
	rows, err := db.QueryContext(ctxT(t), "SELECT id FROM items ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rows.Close() }()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(ids, ",")
}

func TestMarkProcessed(t *testing.T) {
	sqlstoretest.ForEachDialect(t, nil, func(t *testing.T, db *sqlstore.DB) {
		ctx := ctxT(t)
		mark := func(consumer, source, id string) (bool, error) {
			var first bool
			err := db.Tx(ctx, func(tx *sql.Tx) error {
				var err error
				first, err = sqlstore.MarkProcessed(ctx, tx, db.Dialect(), consumer, source, id)
				return err
			})
			return first, err
		}
		steps := []struct {
			name                 string
			consumer, source, id string
			wantFirst            bool
			wantErr              bool
		}{
			{"new", "email", "stripe", "evt_1", true, false},
			{"again", "email", "stripe", "evt_1", false, false},
			{"other source", "email", "github", "evt_1", true, false},
			{"other consumer", "orders", "stripe", "evt_1", true, false},
			{"empty id", "email", "stripe", "", false, true},
			{"empty consumer", "", "stripe", "evt_2", false, true},
		}
		for _, s := range steps {
			first, err := mark(s.consumer, s.source, s.id)
			if (err != nil) != s.wantErr || first != s.wantFirst {
				t.Errorf("%s: MarkProcessed = %v, %v; want first=%v err=%v", s.name, first, err, s.wantFirst, s.wantErr)
			}
		}

		// A rolled-back mark leaves no trace: the effect did not happen either.
		_ = db.Tx(ctx, func(tx *sql.Tx) error {
			if _, err := sqlstore.MarkProcessed(ctx, tx, db.Dialect(), "email", "stripe", "evt_rb"); err != nil {
				t.Errorf("MarkProcessed: %v", err)
			}
			return errors.New("effect failed")
		})
		if first, err := mark("email", "stripe", "evt_rb"); err != nil || !first {
			t.Errorf("after rollback: MarkProcessed = %v, %v; want first", first, err)
		}

		// Concurrent duplicates: exactly one wins.
		const n = 8
		var wg sync.WaitGroup
		results := make(chan bool, n)
		errs := make(chan error, n)
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				first, err := mark("email", "stripe", "evt_race")
				if err != nil {
					errs <- err
					return
				}
				results <- first
			}()
		}
		wg.Wait()
		close(results)
		close(errs)
		for err := range errs {
			t.Errorf("concurrent MarkProcessed: %v", err)
		}
		firsts := 0
		for f := range results {
			if f {
				firsts++
			}
		}
		if firsts != 1 {
			t.Errorf("concurrent duplicates: %d calls saw first=true, want exactly 1", firsts)
		}
	})
}

func TestSavepoint(t *testing.T) {
	sqlstoretest.ForEachDialect(t, testMigrations, func(t *testing.T, db *sqlstore.DB) {
		ctx := ctxT(t)
		d := db.Dialect()
		errItem := errors.New("bad item")
		err := db.Tx(ctx, func(tx *sql.Tx) error {
			ins := func(id string) error {
				_, err := tx.ExecContext(ctx, d.Rebind("INSERT INTO items (id) VALUES (?)"), id)
				return err
			}
			if err := ins("a"); err != nil {
				return err
			}
			// fn fails after writing: its write is undone.
			if err := sqlstore.Savepoint(ctx, tx, "sp_b", func() error {
				if err := ins("b"); err != nil {
					return err
				}
				return errItem
			}); !errors.Is(err, errItem) {
				t.Errorf("Savepoint error = %v, want fn's error", err)
			}
			// A failing statement (which aborts the tx on PostgreSQL) is contained.
			if err := sqlstore.Savepoint(ctx, tx, "sp_dup", func() error { return ins("a") }); !sqlstore.IsUniqueViolation(err) {
				t.Errorf("Savepoint error = %v, want the unique violation", err)
			}
			// A good savepoint keeps its work; names may be reused.
			if err := sqlstore.Savepoint(ctx, tx, "sp_b", func() error { return ins("c") }); err != nil {
				t.Errorf("Savepoint: %v", err)
			}
			if err := sqlstore.Savepoint(ctx, tx, "bad name;", func() error { return nil }); err == nil {
				t.Error("Savepoint accepted an invalid name")
			}
			return ins("d")
		})
		if err != nil {
			t.Fatalf("Tx: %v", err)
		}
		if got := itemIDs(t, db); got != "a,c,d" {
			t.Errorf("items = %q, want a,c,d", got)
		}
	})
}

// TestConcurrentWriters checks that concurrent read-modify-write transactions
// queue for the writer instead of failing (SQLITE_BUSY) or losing updates.
func TestConcurrentWriters(t *testing.T) {
	sqlstoretest.ForEachDialect(t, testMigrations, func(t *testing.T, db *sqlstore.DB) {
		ctx := ctxT(t)
		d := db.Dialect()
		const workers, perWorker = 8, 25
		var wg sync.WaitGroup
		errs := make(chan error, workers*perWorker*2)
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range perWorker {
					err := db.Tx(ctx, func(tx *sql.Tx) error {
						lock := ""
						if d == sqlstore.Postgres {
							lock = " FOR UPDATE" // SQLite's BEGIN IMMEDIATE already holds the write lock
						}
						var n int
						if err := tx.QueryRowContext(ctx, "SELECT n FROM counter WHERE id = 1"+lock).Scan(&n); err != nil {
							return err
						}
						_, err := tx.ExecContext(ctx, d.Rebind("UPDATE counter SET n = ? WHERE id = 1"), n+1)
						return err
					})
					if err != nil {
						errs <- err
					}
					// Reads run alongside the writer.
					var n int
					if err := db.QueryRowContext(ctx, "SELECT n FROM counter WHERE id = 1").Scan(&n); err != nil {
						errs <- fmt.Errorf("read: %w", err)
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("concurrent transaction: %v", err)
		}
		var n int
		if err := db.QueryRowContext(ctx, "SELECT n FROM counter WHERE id = 1").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != workers*perWorker {
			t.Errorf("counter = %d, want %d (lost updates)", n, workers*perWorker)
		}
	})
}

// TestConcurrentOpen starts several processes' worth of Open on one database
// at once: migrations are applied exactly once.
func TestConcurrentOpen(t *testing.T) {
	counting := fstest.MapFS{
		"001_log.sql": {Data: []byte("CREATE TABLE applied (n INTEGER)")},
		"002_one.sql": {Data: []byte("INSERT INTO applied VALUES (1)")},
	}
	run := func(t *testing.T, cfg sqlstore.Config) {
		ctx := ctxT(t)
		const n = 4
		dbs := make(chan *sqlstore.DB, n)
		errs := make(chan error, n)
		var wg sync.WaitGroup
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				db, err := sqlstore.Open(ctx, cfg)
				if err != nil {
					errs <- err
					return
				}
				dbs <- db
			}()
		}
		wg.Wait()
		close(dbs)
		close(errs)
		for err := range errs {
			t.Errorf("concurrent Open: %v", err)
		}
		var db *sqlstore.DB
		for d := range dbs {
			db = d
			t.Cleanup(func() { _ = d.Close() })
		}
		if db == nil {
			t.Fatal("no Open succeeded")
		}
		var got int
		if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM applied").Scan(&got); err != nil || got != 1 {
			t.Errorf("migration 002 ran %d times (%v), want once", got, err)
		}
	}
	t.Run("sqlite", func(t *testing.T) {
		run(t, sqlstore.Config{SQLitePath: filepath.Join(t.TempDir(), "c.db"), Migrations: counting})
	})
	t.Run("postgres", func(t *testing.T) {
		u := sqlstoretest.PostgresURL(t)
		schema := sqlstoretest.NewSchemaName(t)
		t.Cleanup(func() { sqlstoretest.DropSchema(t, u, schema) })
		run(t, sqlstore.Config{URL: u, Schema: schema, Migrations: counting})
	})
}

// Issue 17: a new data dir is 0700 and the SQLite files 0600 (they hold whole
// messages); an older world-readable file is narrowed on open.
func TestSQLiteFilesArePrivate(t *testing.T) {
	ctx := ctxT(t)
	dir := filepath.Join(t.TempDir(), "data")
	path := filepath.Join(dir, "private.db")
	db, err := sqlstore.Open(ctx, sqlstore.Config{SQLitePath: path, Migrations: testMigrations})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "UPDATE counter SET n = 1"); err != nil {
		t.Fatal(err)
	}
	mode := func(p string) os.FileMode {
		t.Helper()
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Mode().Perm()
	}
	if m := mode(dir); m != 0o700 {
		t.Errorf("data dir mode %o, want 700", m)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if m := mode(p); m != 0o600 {
			t.Errorf("%s mode %o, want 600", filepath.Base(p), m)
		}
	}
	_ = db.Close()

	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	db, err = sqlstore.Open(ctx, sqlstore.Config{SQLitePath: path, Migrations: testMigrations})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	if m := mode(path); m != 0o600 {
		t.Errorf("reopened file mode %o, want 600", m)
	}
}
