package sqlstore

import (
	"errors"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Dialect is the small layer between the two supported databases. Queries are
// written once with `?` placeholders and ON CONFLICT upserts (both databases
// accept the same syntax); Rebind adapts the placeholders.
type Dialect struct {
	name string
}

var (
	// SQLite is the embedded default (modernc.org/sqlite, no cgo).
	SQLite = Dialect{name: "sqlite"}
	// Postgres is PostgreSQL through pgx.
	Postgres = Dialect{name: "postgres"}
)

// Name is "sqlite" or "postgres".
func (d Dialect) Name() string { return d.name }

// String implements fmt.Stringer.
func (d Dialect) String() string { return d.name }

// Rebind turns `?` placeholders into `$1`, `$2`, … for PostgreSQL and returns q
// unchanged for SQLite. Question marks inside string literals, quoted
// identifiers and comments are left alone.
func (d Dialect) Rebind(q string) string {
	if d != Postgres || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 8)
	n := 0
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '\'' || c == '"':
			// Copy the quoted run; a doubled quote is an escaped quote and
			// simply continues the run on the next iteration.
			j := i + 1
			for j < len(q) && q[j] != c {
				j++
			}
			if j < len(q) {
				j++
			}
			b.WriteString(q[i:j])
			i = j - 1
		case c == '-' && i+1 < len(q) && q[i+1] == '-':
			j := strings.IndexByte(q[i:], '\n')
			if j < 0 {
				j = len(q) - i
			}
			b.WriteString(q[i : i+j])
			i += j - 1
		case c == '/' && i+1 < len(q) && q[i+1] == '*':
			j := strings.Index(q[i+2:], "*/")
			end := len(q)
			if j >= 0 {
				end = i + 2 + j + 2
			}
			b.WriteString(q[i:end])
			i = end - 1
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// IsUniqueViolation reports whether err is a unique or primary-key constraint
// violation on either database, so callers can map it to a domain conflict.
func IsUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "23505"
	}
	var sqlErr *sqlite.Error
	if errors.As(err, &sqlErr) {
		code := sqlErr.Code()
		return code == sqlite3.SQLITE_CONSTRAINT_UNIQUE || code == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}
