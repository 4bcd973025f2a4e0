package outbox_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/hookmesh/hookmesh/services/email/internal/email"
	"github.com/hookmesh/hookmesh/services/email/internal/outbox"
)

func TestSendWritesOneFilePerMessage(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "outbox")
	o, err := outbox.New(outbox.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	env := email.Envelope{ID: "abc123", Raw: []byte("Subject: hi\r\n\r\nbody\r\n")}
	for range 2 { // a resend replaces the file with the same bytes
		if err := o.Send(t.Context(), env); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	got, err := os.ReadFile(o.Path("abc123"))
	if err != nil || !bytes.Equal(got, env.Raw) {
		t.Fatalf("file = %q (%v)", got, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "abc123.eml" {
		t.Errorf("outbox holds %v, want only abc123.eml", entries)
	}
}

func TestSendErrors(t *testing.T) {
	dir := t.TempDir()
	o, err := outbox.New(outbox.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		env  email.Envelope
		want error
	}{
		{"path traversal", t.Context(), email.Envelope{ID: "../x"}, email.ErrInvalid},
		{"empty id", t.Context(), email.Envelope{}, email.ErrInvalid},
		{"cancelled", cancelled, email.Envelope{ID: "a"}, email.ErrUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := o.Send(tc.ctx, tc.env); !errors.Is(err, tc.want) {
				t.Fatalf("Send = %v, want %v", err, tc.want)
			}
		})
	}
	t.Run("unwritable directory", func(t *testing.T) {
		if os.Geteuid() == 0 {
			// root ignores permissions; remove the directory instead.
			o2, err := outbox.New(outbox.Config{Dir: filepath.Join(dir, "gone")})
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Remove(filepath.Join(dir, "gone")); err != nil {
				t.Fatal(err)
			}
			err = o2.Send(t.Context(), email.Envelope{ID: "a", Raw: []byte("x")})
			if !errors.Is(err, email.ErrUnavailable) || email.RetryAfter(err, 0) == 0 {
				t.Fatalf("Send = %v, want a temporary error", err)
			}
			return
		}
		ro := filepath.Join(dir, "ro")
		o2, err := outbox.New(outbox.Config{Dir: ro})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(ro, 0o500); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.Chmod(ro, 0o700) })
		err = o2.Send(t.Context(), email.Envelope{ID: "a", Raw: []byte("x")})
		if !errors.Is(err, email.ErrUnavailable) || email.RetryAfter(err, 0) == 0 {
			t.Fatalf("Send = %v, want a temporary error", err)
		}
	})
	t.Run("no directory configured", func(t *testing.T) {
		if _, err := outbox.New(outbox.Config{}); err == nil {
			t.Fatal("New accepted an empty directory")
		}
	})
}
