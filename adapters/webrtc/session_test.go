package webrtc

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/internal/syncbuf"
	"github.com/colony-live/colony/ports"
	pion "github.com/pion/webrtc/v4"
)

func freeUDPPort(t testing.TB) int {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// TestDeleteAndStreamEndEndViewers plays over the single-port UDP mux: a
// DELETE ends one viewer, the end of the stream the other, and the viewer
// count follows. Both sessions use the node's one DTLS certificate.
func TestDeleteAndStreamEndEndViewers(t *testing.T) {
	st := h264Stream(t, loadH264Fixture(t, 1))
	play := fakePlayback{play: func(context.Context, ports.PlayRequest) (*media.Stream, error) { return st, nil }}
	port := freeUDPPort(t)
	// Viewers joining and leaving are routine: pion's warnings about
	// them (pionlog.go) must not reach the log at its default level.
	var logs syncbuf.Buffer
	t.Cleanup(func() { // after the server's own cleanup has closed it
		for line := range strings.Lines(logs.String()) {
			if strings.Contains(line, "pion=") && (strings.Contains(line, "Failed to ping without candidate pairs") ||
				strings.Contains(line, "Failed to read from candidate") || strings.Contains(line, "Failed to accept RT")) {
				t.Errorf("a routine session logged: %s", line)
			}
		}
	})
	s, hs := newTestServer(t, Config{UDPMuxPort: port, Logger: slog.New(slog.NewTextHandler(&logs, nil))}, fakeIngest{publish: noPublish}, play)

	var locations, fingerprints []string
	var viewers []*viewerClient
	for range 2 {
		v := newViewerClient(t)
		resp, answer := postSDP(t, hs.URL+"/LiveApp/whep/cam1", gatheredOffer(t, v.pc))
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("POST = %d %s", resp.StatusCode, answer)
		}
		if !strings.Contains(answer, " "+itoaPort(port)+" typ host") {
			t.Fatalf("answer does not use the single UDP port %d:\n%s", port, answer)
		}
		if err := v.pc.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeAnswer, SDP: answer}); err != nil {
			t.Fatal(err)
		}
		locations = append(locations, resp.Header.Get("Location"))
		viewers = append(viewers, v)
		fingerprints = append(fingerprints, sdpLine(answer, "a=fingerprint:"))
	}
	if fingerprints[0] == "" || fingerprints[0] != fingerprints[1] {
		t.Fatalf("answers' certificate fingerprints %q, want one and the same", fingerprints)
	}
	for _, v := range viewers {
		waitConnected(t, v.pc)
	}
	waitFor(t, "two viewers live", 5*time.Second, func() bool { return liveMembers(s, st) == 2 })
	if n := st.Readers(); n != 1 {
		t.Fatalf("%d stream readers for two viewers, want 1 (the fan-out's)", n)
	}
	waitFor(t, "the first frames", 5*time.Second, func() bool {
		a, _, _ := viewers[0].received()
		b, _, _ := viewers[1].received()
		return len(a) > 0 && len(b) > 0
	})
	if n := s.Viewers(testKey); n != 2 {
		t.Fatalf("Viewers = %d, want 2", n)
	}
	// The frames came on the direct path (srtpdirect.go): the viewers
	// decrypted what the server's own SRTP contexts encrypted.
	if n := s.Stats().DirectViewers; n != 2 {
		t.Fatalf("DirectViewers = %d, want 2", n)
	}

	if code := deleteSession(t, hs.URL+locations[0]); code != http.StatusOK {
		t.Fatalf("DELETE = %d", code)
	}
	if n := s.Viewers(testKey); n != 1 {
		t.Fatalf("Viewers after DELETE = %d, want 1", n)
	}
	if n := liveMembers(s, st); n != 1 {
		t.Fatalf("viewers in the fan-out after DELETE = %d, want 1", n)
	}
	// A second DELETE finds nothing.
	if code := deleteSession(t, hs.URL+locations[0]); code != http.StatusNotFound {
		t.Fatalf("second DELETE = %d, want 404", code)
	}

	st.Close()
	waitFor(t, "the stream's end to end the viewer", 5*time.Second, func() bool { return s.Viewers(testKey) == 0 })
}

func itoaPort(p int) string { return strconv.Itoa(p) }

// sdpLine returns the first line of desc that starts with prefix, or "".
func sdpLine(desc, prefix string) string {
	for line := range strings.Lines(desc) {
		if strings.HasPrefix(line, prefix) {
			return strings.TrimSpace(line)
		}
	}
	return ""
}
