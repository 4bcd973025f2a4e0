package sqlstore

import (
	"context"
	"database/sql"
	"errors"
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
	if _, err := tx.ExecContext(ctx, "SAVEPOINT "+name); err != nil {
		return fmt.Errorf("savepoint %s: %w", name, err)
	}
	if err := fn(); err != nil {
		if _, rbErr := tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT "+name); rbErr != nil {
			return errors.Join(err, fmt.Errorf("rollback to savepoint %s: %w", name, rbErr))
		}
		if _, relErr := tx.ExecContext(ctx, "RELEASE SAVEPOINT "+name); relErr != nil {
			return errors.Join(err, fmt.Errorf("release savepoint %s: %w", name, relErr))
		}
		return err
	}
	if _, err := tx.ExecContext(ctx, "RELEASE SAVEPOINT "+name); err != nil {
		return fmt.Errorf("release savepoint %s: %w", name, err)
	}
	return nil
}
