package sqlstore_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookmesh/hookmesh/platform/groupcommit"
	"github.com/hookmesh/hookmesh/platform/sqlstore"
	"github.com/hookmesh/hookmesh/platform/sqlstore/sqlstoretest"
)

func TestGroup(t *testing.T) {
	sqlstoretest.ForEachDialect(t, testMigrations, func(t *testing.T, db *sqlstore.DB) {
		ctx := ctxT(t)
		d := db.Dialect()
		var batches, items atomic.Int64
		g, err := db.Group(groupcommit.Config{Observe: func(size int, _ time.Duration, _ error) {
			batches.Add(1)
			items.Add(int64(size))
		}})
		if err != nil {
			t.Fatal(err)
		}
		errPoison := errors.New("poisoned")
		const n = 40
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				errs[i] = g.Tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
					if _, err := tx.ExecContext(ctx, d.Rebind("INSERT INTO items (id) VALUES (?)"), fmt.Sprintf("g%02d", i)); err != nil {
						return err
					}
					if i%10 == 3 {
						return errPoison // its insert alone is rolled back
					}
					// A unique violation rolls back to its savepoint (on PostgreSQL it
					// would otherwise abort the whole transaction).
					if i%10 == 7 {
						_, err := tx.ExecContext(ctx, d.Rebind("INSERT INTO items (id) VALUES (?)"), fmt.Sprintf("g%02d", i))
						return err
					}
					return nil
				})
			})
		}
		wg.Wait()
		for i, err := range errs {
			switch i % 10 {
			case 3:
				if !errors.Is(err, errPoison) {
					t.Errorf("item %d: %v, want its own error", i, err)
				}
			case 7:
				if !sqlstore.IsUniqueViolation(err) {
					t.Errorf("item %d: %v, want a unique violation", i, err)
				}
			default:
				if err != nil {
					t.Errorf("item %d: %v", i, err)
				}
			}
		}
		var count int
		if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM items").Scan(&count); err != nil {
			t.Fatal(err)
		}
		if want := n - n/10*2; count != want {
			t.Errorf("%d rows committed, want %d", count, want)
		}
		if batches.Load() >= int64(n) {
			t.Errorf("%d callers took %d transactions: nothing was grouped", n, batches.Load())
		}
		t.Logf("%d callers in %d transactions", items.Load(), batches.Load())
	})
}

// A caller giving up does not interrupt the shared transaction: fn runs with the
// caller's values but not its cancellation.
func TestGroupCallerCancel(t *testing.T) {
	sqlstoretest.ForEachDialect(t, testMigrations, func(t *testing.T, db *sqlstore.DB) {
		ctx := ctxT(t)
		d := db.Dialect()
		g, err := db.Group(groupcommit.Config{})
		if err != nil {
			t.Fatal(err)
		}
		release := make(chan struct{})
		held := make(chan struct{})
		callerCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			done <- g.Tx(callerCtx, func(ctx context.Context, tx *sql.Tx) error {
				close(held)
				<-release
				if ctx.Err() != nil {
					return fmt.Errorf("fn's ctx ended with its caller's: %w", ctx.Err())
				}
				_, err := tx.ExecContext(ctx, d.Rebind("INSERT INTO items (id) VALUES (?)"), "late")
				return err
			})
		}()
		<-held
		other := make(chan error, 1)
		go func() {
			other <- g.Tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, d.Rebind("INSERT INTO items (id) VALUES (?)"), "other")
				return err
			})
		}()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled caller: %v, want context.Canceled", err)
		}
		close(release)
		if err := <-other; err != nil {
			t.Errorf("the next caller: %v", err)
		}
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
}
