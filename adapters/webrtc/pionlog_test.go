package webrtc

import (
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/colony-live/colony/internal/syncbuf"
)

// pion's warnings and errors keep their level, except those every normal
// session makes, which go to debug; its info goes to debug.
func TestPionLogLevels(t *testing.T) {
	refused := errors.New("read udp 127.0.0.1:50000: connection refused")
	tests := []struct {
		name string
		log  func(slogLogger)
		want string
	}{
		{"pinging before the peer's candidates", func(l slogLogger) {
			l.Warn("Failed to ping without candidate pairs. Connection is not possible yet.")
		}, "DEBUG"},
		{"a closing candidate's read loop", func(l slogLogger) {
			l.Warnf("Failed to read from candidate %s: %v", "udp4 host 127.0.0.1:50000", io.ErrClosedPipe)
		}, "DEBUG"},
		{"a candidate's read failing otherwise", func(l slogLogger) {
			l.Warnf("Failed to read from candidate %s: %v", "udp4 host 127.0.0.1:50000", refused)
		}, "WARN"},
		{"a closing connection's stream acceptor", func(l slogLogger) { l.Warnf("Failed to accept RTP %v", "stream is already closed") }, "DEBUG"},
		{"the mux writing to a closed connection", func(l slogLogger) { l.Errorf("Failed to write packet: %v", io.ErrClosedPipe) }, "DEBUG"},
		{"the mux failing to write otherwise", func(l slogLogger) { l.Errorf("Failed to write packet: %v", refused) }, "ERROR"},
		{"a failed handshake", func(l slogLogger) { l.Warn("Failed to start manager: handshake error") }, "WARN"},
		{"an error", func(l slogLogger) { l.Error("Incoming unhandled RTCP ssrc(1)") }, "ERROR"},
		{"info", func(l slogLogger) { l.Infof("ICE connection state changed: %s", "connected") }, "DEBUG"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf syncbuf.Buffer
			f := slogFactory{slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))}
			tt.log(f.NewLogger("ice").(slogLogger))
			if got := buf.String(); !strings.Contains(got, "level="+tt.want+" ") || strings.Count(got, "\n") != 1 {
				t.Fatalf("logged %q, want one line at %s", got, tt.want)
			}
		})
	}
}
