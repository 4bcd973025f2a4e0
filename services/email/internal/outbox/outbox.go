// Package outbox is the embedded default transport: instead of talking SMTP it
// writes each message as one .eml file under a directory (the message row in the
// store is the other half). A file is named by the message's stable id and
// written atomically (temp file, fsync, rename), so a resend replaces the same
// file with the same bytes and a reader never sees half a message.
package outbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hookmesh/hookmesh/services/email/internal/email"
)

// Config configures the outbox.
type Config struct {
	// Dir holds the .eml files; created if missing.
	Dir string
}

// Outbox writes messages to files.
type Outbox struct {
	dir string
}

// New creates the directory if needed.
func New(cfg Config) (*Outbox, error) {
	if cfg.Dir == "" {
		return nil, errors.New("outbox: directory is required")
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("outbox: create directory: %w", err)
	}
	return &Outbox{dir: cfg.Dir}, nil
}

// Name implements email.Transport.
func (o *Outbox) Name() string { return "outbox" }

// Rewrites implements email.Rewriter: a resend writes the same file with the same
// bytes (Message-ID included), so it never makes a second mail.
func (o *Outbox) Rewrites() bool { return true }

// Path is where the message with this id is (or will be) written.
func (o *Outbox) Path(id string) string { return filepath.Join(o.dir, id+".eml") }

// Send implements email.Transport. Errors are temporary (a full disk may free up).
func (o *Outbox) Send(ctx context.Context, env email.Envelope) error {
	if env.ID == "" || strings.ContainsAny(env.ID, `/\.`) {
		return fmt.Errorf("outbox: %w: bad message id %q", email.ErrInvalid, env.ID)
	}
	if err := ctx.Err(); err != nil {
		return email.Retry(time.Second, fmt.Errorf("outbox: %w: %w", email.ErrUnavailable, err))
	}
	if err := o.write(env); err != nil {
		return email.Retry(5*time.Second, fmt.Errorf("outbox: %w: %w", email.ErrUnavailable, err))
	}
	return nil
}

func (o *Outbox) write(env email.Envelope) error {
	tmp, err := os.CreateTemp(o.dir, ".tmp-"+env.ID+"-*")
	if err != nil {
		return fmt.Errorf("create temp file: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(env.Raw); err != nil {
		tmp.Close()
		return fmt.Errorf("write: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("sync: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	if err := os.Rename(tmp.Name(), o.Path(env.ID)); err != nil {
		return fmt.Errorf("rename: %w", err)
	}
	// Make the rename itself durable.
	if d, err := os.Open(o.dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
