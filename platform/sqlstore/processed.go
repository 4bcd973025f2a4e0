package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// MarkProcessed records that consumer handled the event (source, id) inside tx,
// the same transaction as the consumer's effect. first is false when the event
// was recorded before, in which case the caller skips the effect (and answers
// ALREADY_EXISTS or OK). Concurrent duplicates are safe: on PostgreSQL the second
// insert waits for the first transaction and then conflicts; on SQLite writers
// are serialised.
func MarkProcessed(ctx context.Context, tx *sql.Tx, d Dialect, consumer, source, id string) (first bool, err error) {
	if consumer == "" || source == "" || id == "" {
		return false, errors.New("mark processed: consumer, source and id are required")
	}
	res, err := tx.ExecContext(ctx, d.Rebind(
		"INSERT INTO processed_events (consumer, source, event_id, processed_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING"),
		consumer, source, id, time.Now().UTC())
	if err != nil {
		return false, fmt.Errorf("mark processed: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("mark processed: rows affected: %w", err)
	}
	return n == 1, nil
}
