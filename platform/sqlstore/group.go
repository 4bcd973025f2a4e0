package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/hookmesh/hookmesh/platform/groupcommit"
)

// Writer runs write transactions: a *Group, or DB.Writer for one transaction
// per call. fn must use the ctx it is given.
type Writer interface {
	Tx(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error
}

// Writer returns db as a Writer: every Tx its own transaction.
func (db *DB) Writer() Writer { return soloWriter{db} }

type soloWriter struct{ db *DB }

func (w soloWriter) Tx(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	return w.db.Tx(ctx, func(tx *sql.Tx) error { return fn(ctx, tx) })
}

// Group group-commits the write transactions of concurrent callers (DESIGN.md
// "Group commit"): the callers waiting together share one transaction on the
// writer, each fn in its own savepoint, and one commit (one fsync) answers them
// all. Tx returns only after that commit, with fn's own error when fn failed (its
// work alone rolled back) or the commit's error (nothing of the batch written).
type Group struct {
	db *DB
	c  *groupcommit.Committer[groupItem]
}

type groupItem struct {
	ctx context.Context
	fn  func(ctx context.Context, tx *sql.Tx) error
}

// Group starts a Group writing to db; db.Close closes it first. cfg.FlushInterval
// is best left 0: a busy writer batches what arrived during the previous commit.
func (db *DB) Group(cfg groupcommit.Config) (*Group, error) {
	c, err := groupcommit.New[groupItem](cfg, groupApplier{db})
	if err != nil {
		return nil, err
	}
	g := &Group{db: db, c: c}
	db.mu.Lock()
	db.groups = append(db.groups, g)
	db.mu.Unlock()
	return g, nil
}

// Tx runs fn in the next group transaction and waits for its commit. fn must use
// the ctx it is given (the caller's values, not its cancellation: a caller giving
// up must not interrupt a statement of a transaction it shares), must not call Tx
// itself, and must not keep state that outlives a failed commit.
func (g *Group) Tx(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	return g.c.Submit(ctx, groupItem{ctx: ctx, fn: fn})
}

type groupApplier struct{ db *DB }

// Apply runs every item in a savepoint of one transaction. A savepoint that cannot
// be rolled back (the engine dropped the whole transaction) fails the batch, so no
// statement of a later item ever runs outside the transaction.
func (a groupApplier) Apply(ctx context.Context, items []groupItem) ([]error, error) {
	results := make([]error, len(items))
	err := a.db.Tx(ctx, func(tx *sql.Tx) error {
		deadline, _ := ctx.Deadline()
		for i, it := range items {
			ictx, cancel := context.WithDeadline(context.WithoutCancel(it.ctx), orFar(deadline))
			err := runSavepoint(ictx, tx, "grp", func() error { return it.fn(ictx, tx) })
			cancel()
			var broken *savepointError
			if errors.As(err, &broken) {
				return err
			}
			results[i] = err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

func orFar(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now().Add(time.Hour)
	}
	return t
}

// savepointError is a failure of the savepoint statements themselves: the
// transaction is no longer usable.
type savepointError struct{ err error }

func (e *savepointError) Error() string { return e.err.Error() }
func (e *savepointError) Unwrap() error { return e.err }

// runSavepoint runs fn inside savepoint name of tx (see Savepoint).
func runSavepoint(ctx context.Context, tx *sql.Tx, name string, fn func() error) error {
	if _, err := tx.ExecContext(ctx, "SAVEPOINT "+name); err != nil {
		return &savepointError{fmt.Errorf("savepoint %s: %w", name, err)}
	}
	if err := fn(); err != nil {
		if _, rbErr := tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT "+name); rbErr != nil {
			return &savepointError{errors.Join(err, fmt.Errorf("rollback to savepoint %s: %w", name, rbErr))}
		}
		if _, relErr := tx.ExecContext(ctx, "RELEASE SAVEPOINT "+name); relErr != nil {
			return &savepointError{errors.Join(err, fmt.Errorf("release savepoint %s: %w", name, relErr))}
		}
		return err
	}
	if _, err := tx.ExecContext(ctx, "RELEASE SAVEPOINT "+name); err != nil {
		return &savepointError{fmt.Errorf("release savepoint %s: %w", name, err)}
	}
	return nil
}
