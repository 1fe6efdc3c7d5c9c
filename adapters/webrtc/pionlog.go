package webrtc

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// slogFactory routes pion's logs to slog. pion's info and debug chatter
// (ICE checks, DTLS) goes to debug; its warnings and errors keep their level.
type slogFactory struct{ log *slog.Logger }

func (f slogFactory) NewLogger(scope string) logging.LeveledLogger {
	return slogLogger{f.log.With("pion", scope)}
}

type slogLogger struct{ log *slog.Logger }

func (l slogLogger) Trace(string)                   {}
func (l slogLogger) Tracef(string, ...any)          {}
func (l slogLogger) Debug(msg string)               { l.log.Debug(msg) }
func (l slogLogger) Debugf(format string, a ...any) { l.logf(slog.LevelDebug, format, a...) }
func (l slogLogger) Info(msg string)                { l.log.Debug(msg) }
func (l slogLogger) Infof(format string, a ...any)  { l.logf(slog.LevelDebug, format, a...) }
func (l slogLogger) Warn(msg string)                { l.log.Warn(msg) }
func (l slogLogger) Warnf(format string, a ...any)  { l.logf(slog.LevelWarn, format, a...) }
func (l slogLogger) Error(msg string)               { l.log.Error(msg) }
func (l slogLogger) Errorf(format string, a ...any) { l.logf(slog.LevelError, format, a...) }

// logf formats only when the level is enabled: pion logs a lot at debug.
func (l slogLogger) logf(level slog.Level, format string, a ...any) {
	if l.log.Enabled(context.Background(), level) {
		l.log.Log(context.Background(), level, fmt.Sprintf(format, a...))
	}
}
