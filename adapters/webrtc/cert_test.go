package webrtc

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/ports"
	pion "github.com/pion/webrtc/v4"
)

func TestCertSourceRenews(t *testing.T) {
	start := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	now := start
	s, err := newCertSource(func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	fingerprint := func() string {
		t.Helper()
		c, err := s.get()
		if err != nil {
			t.Fatal(err)
		}
		fps, err := c.GetFingerprints()
		if err != nil || len(fps) == 0 {
			t.Fatalf("fingerprints: %v, %v", fps, err)
		}
		if c.Expires().Before(now.Add(certRenewAfter)) {
			t.Fatalf("certificate expires %v, before it is renewed (%v)", c.Expires(), now.Add(certRenewAfter))
		}
		return fps[0].Value
	}
	first := fingerprint()
	for _, tc := range []struct {
		after time.Duration
		same  bool
	}{
		{0, true},
		{time.Hour, true},
		{certRenewAfter - time.Second, true},
		{certRenewAfter, false},
	} {
		now = start.Add(tc.after)
		if got := fingerprint(); (got == first) != tc.same {
			t.Errorf("after %v: same certificate = %v, want %v", tc.after, got == first, tc.same)
		}
	}
	// The renewed certificate serves the next day's sessions in turn.
	renewed := fingerprint()
	now = now.Add(time.Hour)
	if got := fingerprint(); got != renewed {
		t.Error("the renewed certificate was replaced within the day")
	}
}

// BenchmarkWHEPAnswer is the server's side of a viewer joining, up to its
// answer: the WHEP request, a PeerConnection with its ICE agent on the
// single-port mux, the remote description and the answer; then the
// session is deleted. The DTLS certificate and the interface list are the
// node's, made once (cert.go, newAPI), not once per join.
func BenchmarkWHEPAnswer(b *testing.B) {
	st := media.NewStream([]media.Track{{Codec: media.H264, ClockRate: 90000}}, media.StreamConfig{})
	defer st.Close()
	play := fakePlayback{play: func(context.Context, ports.PlayRequest) (*media.Stream, error) { return st, nil }}
	_, hs := newTestServer(b, Config{UDPMuxPort: freeUDPPort(b)}, fakeIngest{publish: noPublish}, play)
	pc := newClientPC(b)
	if _, err := pc.AddTransceiverFromKind(pion.RTPCodecTypeVideo, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionRecvonly}); err != nil {
		b.Fatal(err)
	}
	offer := gatheredOffer(b, pc)
	b.ReportAllocs()
	for b.Loop() {
		resp, err := http.Post(hs.URL+"/LiveApp/whep/cam1", "application/sdp", strings.NewReader(offer))
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			b.Fatalf("POST = %d", resp.StatusCode)
		}
		if code := deleteSession(b, hs.URL+resp.Header.Get("Location")); code != http.StatusOK {
			b.Fatalf("DELETE = %d", code)
		}
	}
}
