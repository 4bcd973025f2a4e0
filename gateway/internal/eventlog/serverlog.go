package eventlog

import (
	"context"
	"fmt"
	"log/slog"
	"os"
)

// serverLogger routes the embedded server's log lines to slog. Its notices (the
// start-up banner, routine JetStream chatter) are debug-level for hookmesh.
type serverLogger struct{ l *slog.Logger }

func (s serverLogger) log(level slog.Level, format string, v []any) {
	if !s.l.Enabled(context.Background(), level) {
		return
	}
	s.l.Log(context.Background(), level, "nats server", "line", fmt.Sprintf(format, v...))
}

func (s serverLogger) Noticef(format string, v ...any) { s.log(slog.LevelDebug, format, v) }
func (s serverLogger) Warnf(format string, v ...any)   { s.log(slog.LevelWarn, format, v) }
func (s serverLogger) Errorf(format string, v ...any)  { s.log(slog.LevelError, format, v) }
func (s serverLogger) Debugf(format string, v ...any)  { s.log(slog.LevelDebug, format, v) }
func (s serverLogger) Tracef(format string, v ...any)  { s.log(slog.LevelDebug-4, format, v) }

// Fatalf is called by the server on unrecoverable errors; the server expects the
// process to stop, as nats-server itself does.
func (s serverLogger) Fatalf(format string, v ...any) {
	s.log(slog.LevelError, format, v)
	os.Exit(1)
}
