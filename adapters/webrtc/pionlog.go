package webrtc

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/pion/logging"
)

// slogFactory routes pion's logs to slog. pion's info and debug chatter
// (ICE checks, DTLS) goes to debug; its warnings and errors keep their
// level, except those every normal session makes (routine), which go to
// debug too.
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
func (l slogLogger) Warn(msg string)                { l.emit(slog.LevelWarn, msg) }
func (l slogLogger) Warnf(format string, a ...any)  { l.logf(slog.LevelWarn, format, a...) }
func (l slogLogger) Error(msg string)               { l.emit(slog.LevelError, msg) }
func (l slogLogger) Errorf(format string, a ...any) { l.logf(slog.LevelError, format, a...) }

// logf formats only when the level is enabled: pion logs a lot at debug.
// Warnings and errors are formatted to be checked by routine.
func (l slogLogger) logf(level slog.Level, format string, a ...any) {
	if level >= slog.LevelWarn || l.log.Enabled(context.Background(), level) {
		l.emit(level, fmt.Sprintf(format, a...))
	}
}

func (l slogLogger) emit(level slog.Level, msg string) {
	if level >= slog.LevelWarn && routine(msg) {
		level = slog.LevelDebug
	}
	l.log.Log(context.Background(), level, msg)
}

// routine reports whether a pion warning or error is one that sessions
// make in the normal course: the ICE agent checking before the peer's
// candidates are known (every WHEP join), and the read loops and stream
// acceptors of a connection that is closing finding their socket or
// stream closed (every viewer that leaves). At 200 viewers they were
// 1,400 warning and error lines per crowd, burying the ones that matter.
// A read or write failing for any other reason keeps its level.
func routine(msg string) bool {
	if strings.HasPrefix(msg, "Failed to ping without candidate pairs") {
		return true
	}
	for _, p := range []string{"Failed to read from candidate", "Failed to write packet", "Failed to accept RTP", "Failed to accept RTCP"} {
		if strings.HasPrefix(msg, p) {
			return closedError(msg)
		}
	}
	return false
}

// closedError reports whether msg ends with the error of an I/O on
// something closed.
func closedError(msg string) bool {
	for _, s := range []string{"read/write on closed pipe", "use of closed network connection", "is already closed"} {
		if strings.HasSuffix(msg, s) {
			return true
		}
	}
	return false
}
