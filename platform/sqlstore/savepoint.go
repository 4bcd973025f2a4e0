package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
)

// Savepoint runs fn inside a savepoint of tx. When fn returns an error, the
// work done since the savepoint is rolled back and the transaction stays usable
// (on PostgreSQL this also clears the "transaction is aborted" state), so one bad
// item does not fail a batch. fn's error is returned as is. name must be a plain
// identifier.
func Savepoint(ctx context.Context, tx *sql.Tx, name string, fn func() error) error {
	if !identRE.MatchString(name) {
		return fmt.Errorf("savepoint: name %q is not a plain identifier", name)
	}
	return runSavepoint(ctx, tx, name, fn)
}
