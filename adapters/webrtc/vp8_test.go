package webrtc

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/ports"
	pion "github.com/pion/webrtc/v4"
	pmedia "github.com/pion/webrtc/v4/pkg/media"
	"github.com/pion/webrtc/v4/pkg/media/ivfreader"
)

// TestVP8PublishThenPlay publishes VP8 over WHIP (with an Opus track
// offered but never sent: the stream starts at StartTimeout without it),
// plays it back over WHEP, and ends when the publisher goes away.
func TestVP8PublishThenPlay(t *testing.T) {
	needFFmpeg(t)
	ivf := filepath.Join(t.TempDir(), "clip.ivf")
	if out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-t", "2",
		"-c:v", "libvpx", "-g", "30", "-deadline", "realtime", "-b:v", "400k", ivf).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}

	pubs := make(chan *fakePub, 1)
	ingest := fakeIngest{publish: func(_ context.Context, req ports.PublishRequest) (ports.Publication, error) {
		p := newFakePub(req)
		pubs <- p
		return p, nil
	}}
	var pub *fakePub
	play := fakePlayback{play: func(context.Context, ports.PlayRequest) (*media.Stream, error) {
		pub.mu.Lock()
		defer pub.mu.Unlock()
		return pub.st, nil
	}}
	s, hs := newTestServer(t, Config{StartTimeout: 400 * time.Millisecond}, ingest, play)

	c := newPublisherClient(t, pion.MimeTypeVP8, true)
	resp, answer := postSDP(t, hs.URL+"/LiveApp/whip/cam1", gatheredOffer(t, c.pc))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST = %d %s", resp.StatusCode, answer)
	}
	pub = <-pubs
	if err := c.pc.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	waitConnected(t, c.pc)

	f, err := os.Open(ivf)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, _, err := ivfreader.NewWith(f)
	if err != nil {
		t.Fatal(err)
	}
	for {
		frame, _, err := r.ParseNextFrame()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := c.video.WriteSample(pmedia.Sample{Data: frame, Duration: fixtureFrameDur}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * time.Millisecond)
	}
	select {
	case tracks := <-pub.started:
		if len(tracks) != 1 || tracks[0].Codec != media.VP8 || tracks[0].Width != 320 || tracks[0].Height != 240 {
			t.Fatalf("tracks %+v, want VP8 320x240 only", tracks)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the stream did not start")
	}
	if c.plis.Load() == 0 {
		t.Fatal("the publisher was never asked for a keyframe")
	}

	v := newViewerClient(t)
	resp, answer = postSDP(t, hs.URL+"/LiveApp/whep/cam1", gatheredOffer(t, v.pc))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("WHEP POST = %d %s", resp.StatusCode, answer)
	}
	if err := v.pc.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "VP8 frames", 10*time.Second, func() bool {
		samples, _, _ := v.received()
		return len(samples) > 0
	})
	samples, _, mime := v.received()
	if mime != pion.MimeTypeVP8 {
		t.Fatalf("viewer codec %q", mime)
	}
	if key, w, h := vp8Key(samples[0]); !key || w != 320 || h != 240 {
		t.Fatalf("first frame: key %v %dx%d", key, w, h)
	}

	// The publisher leaving fails the publication, which ends the stream
	// and its viewer.
	if err := c.pc.GracefulClose(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-pub.ended:
		if err == nil {
			t.Fatal("End(nil) after the peer left, want an error")
		}
	case <-time.After(15 * time.Second):
		t.Fatal("publication not ended")
	}
	waitFor(t, "the viewer to end", 5*time.Second, func() bool { return s.Viewers(testKey) == 0 })
}

// TestKickAndRun: a kicked publisher is ended normally; Run returns when
// its context ends, after ending every session.
func TestKickAndRun(t *testing.T) {
	pubs := make(chan *fakePub, 1)
	ingest := fakeIngest{publish: func(_ context.Context, req ports.PublishRequest) (ports.Publication, error) {
		p := newFakePub(req)
		pubs <- p
		return p, nil
	}}
	st := media.NewStream([]media.Track{{Codec: media.Opus, ClockRate: 48000}}, media.StreamConfig{})
	defer st.Close()
	play := fakePlayback{play: func(context.Context, ports.PlayRequest) (*media.Stream, error) { return st, nil }}
	s, hs := newTestServer(t, Config{}, ingest, play)
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- s.Run(ctx) }()

	c := newPublisherClient(t, pion.MimeTypeH264, false)
	resp, answer := postSDP(t, hs.URL+"/LiveApp/whip/pub", gatheredOffer(t, c.pc))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST = %d %s", resp.StatusCode, answer)
	}
	pub := <-pubs
	if err := c.pc.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	waitConnected(t, c.pc)
	close(pub.kicked)
	select {
	case err := <-pub.ended:
		if err != nil {
			t.Fatalf("kicked publication End(%v), want End(nil)", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("kicked publication not ended")
	}

	v := newViewerClient(t)
	resp, answer = postSDP(t, hs.URL+"/LiveApp/whep/cam1", gatheredOffer(t, v.pc))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("WHEP POST = %d %s", resp.StatusCode, answer)
	}
	if s.Viewers(testKey) != 1 {
		t.Fatal("viewer not counted")
	}
	cancel()
	select {
	case err := <-ran:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	if s.Viewers(testKey) != 0 {
		t.Fatal("a viewer outlived Run")
	}
	if resp, _ := postSDP(t, hs.URL+"/LiveApp/whep/cam1", gatheredOffer(t, newViewerClient(t).pc)); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("WHEP after shutdown = %d, want 503", resp.StatusCode)
	}
}
