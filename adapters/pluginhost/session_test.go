package pluginhost

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/plugins/ffmpeg/ffmpegtest"
)

// The fake plugins echo the source's video: what comes out can be compared
// unit by unit with what went in.
var smallLadder = []stream.Rendition{{Height: 180, VideoBitrate: 200_000}}

func smallClip(t *testing.T, d time.Duration) ffmpegtest.Clip {
	return ffmpegtest.Make(t, ffmpegtest.ClipConfig{Width: 320, Height: 180, Duration: d, VideoBitrate: 300_000})
}

func videoPTS(units []*media.Unit) []time.Duration {
	var out []time.Duration
	for _, u := range units {
		if u.Track == 0 {
			out = append(out, u.PTS)
		}
	}
	return out
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSwapAtKeyframeLosesAndRepeatsNothing(t *testing.T) {
	t.Parallel()
	clip := smallClip(t, 5*time.Second)
	h, logs := newHost(t, "fake", Config{Plugin: "echo"})
	src, _ := play(t, clip, 1)
	time.Sleep(100 * time.Millisecond)
	ctx := context.Background()
	rs, err := h.Transcode(ctx, testKey, src, smallLadder)
	if err != nil {
		t.Fatal(err)
	}
	got := collect(t, rs[0].Stream)
	time.Sleep(800 * time.Millisecond)
	if err := h.Swap("echo2"); err != nil {
		t.Fatal(err)
	}
	if h.Current() != "echo2" {
		t.Fatalf("Current = %q after Swap", h.Current())
	}
	waitFor(t, "the session to move to echo2", 3*time.Second, func() bool {
		ss := h.Sessions()
		return len(ss) == 1 && ss[0].Plugin == "echo2" && ss[0].Generation == 2 && ss[0].Restarts == 0
	})
	var out []*media.Unit
	for _, a := range got() {
		out = append(out, a.u)
	}
	want := videoPTS(clip.Units)
	have := videoPTS(out)
	// The rendition starts where the session started (the cached GOP) and
	// then has every source frame once, across the swap.
	i := 0
	for i < len(want) && want[i] != have[0] {
		i++
	}
	if i == len(want) || len(want)-i != len(have) {
		t.Fatalf("rendition has %d frames from %v; the source has %d from there", len(have), have[0], len(want)-i)
	}
	for j := range have {
		if have[j] != want[i+j] {
			t.Fatalf("frame %d at %v, source frame at %v", j, have[j], want[i+j])
		}
	}
	if !logs.Contains("switched transcoder plugin at a source keyframe") {
		t.Error("the swap was not logged")
	}
	if err := h.Swap("nope"); !errors.Is(err, ErrUnknownPlugin) {
		t.Fatalf("Swap(nope) = %v", err)
	}
}

func TestHungPluginIsRestarted(t *testing.T) {
	t.Parallel()
	clip := smallClip(t, 6*time.Second)
	h, logs := newHost(t, "fake", Config{Plugin: "hang", StallTimeout: 800 * time.Millisecond, RestartBackoff: 50 * time.Millisecond})
	src, _ := play(t, clip, 1)
	time.Sleep(100 * time.Millisecond)
	rs, err := h.Transcode(context.Background(), testKey, src, smallLadder)
	if err != nil {
		t.Fatal(err)
	}
	got := collect(t, rs[0].Stream)
	waitFor(t, "a restart", 5*time.Second, func() bool {
		ss := h.Sessions()
		return len(ss) == 1 && ss[0].Restarts >= 1
	})
	var last time.Duration
	for _, a := range got() {
		last = max(last, a.u.PTS)
	}
	// The fake hangs after 45 frames (1.5 s) of each generation: frames
	// after 3 s come from a restarted one.
	if last < 3*time.Second {
		t.Fatalf("rendition ends at %v: no output after the restart", last)
	}
	if !logs.Contains("without output") {
		t.Fatalf("the hang was not logged as such")
	}
}

func TestRefusedSessionFailsTranscode(t *testing.T) {
	t.Parallel()
	clip := smallClip(t, 2*time.Second)
	h, _ := newHost(t, "fake", Config{Plugin: "refuse"})
	src, _ := play(t, clip, 1)
	_, err := h.Transcode(context.Background(), testKey, src, smallLadder)
	if err == nil || !strings.Contains(err.Error(), "refuses every session") {
		t.Fatalf("Transcode error = %v, want the plugin's refusal", err)
	}
	if ss := h.Sessions(); len(ss) != 0 {
		t.Fatalf("sessions left: %+v", ss)
	}
}

func TestTranscodeRejectsWhatItCannotDo(t *testing.T) {
	h, _ := newHost(t, "fake", Config{Plugin: "echo"})
	tests := []struct {
		name   string
		tracks []media.Track
		ladder []stream.Rendition
		want   error
	}{
		{"only upscales", []media.Track{{Codec: media.H264, ClockRate: 90000, Width: 320, Height: 180}},
			[]stream.Rendition{{Height: 720, VideoBitrate: 1}}, ErrNoRenditions},
		{"no video", []media.Track{{Codec: media.AAC, ClockRate: 48000}}, smallLadder, ErrUnsupportedSource},
		{"VP8", []media.Track{{Codec: media.VP8, ClockRate: 90000, Width: 640, Height: 360}}, smallLadder, ErrUnsupportedSource},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := media.NewStream(tt.tracks, media.StreamConfig{})
			defer src.Close()
			if _, err := h.Transcode(context.Background(), testKey, src, tt.ladder); !errors.Is(err, tt.want) {
				t.Fatalf("error = %v, want %v", err, tt.want)
			}
		})
	}
	src := media.NewStream([]media.Track{{Codec: media.H264, ClockRate: 90000, Width: 320, Height: 180}}, media.StreamConfig{})
	defer src.Close()
	if _, err := h.BridgeAudio(context.Background(), testKey, src, media.Opus, 0); !errors.Is(err, ErrUnsupportedSource) {
		t.Fatalf("bridging a stream without audio: %v", err)
	}
}

func TestCloseEndsSessions(t *testing.T) {
	t.Parallel()
	clip := smallClip(t, 4*time.Second)
	h, _ := newHost(t, "fake", Config{Plugin: "echo"})
	src, _ := play(t, clip, 1)
	time.Sleep(100 * time.Millisecond)
	rs, err := h.Transcode(context.Background(), testKey, src, smallLadder)
	if err != nil {
		t.Fatal(err)
	}
	pid := h.Sessions()[0].PID
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-rs[0].Stream.Done():
	default:
		t.Fatal("rendition still open after Close")
	}
	if len(h.Sessions()) != 0 {
		t.Fatal("sessions left after Close")
	}
	if processAlive(pid) {
		t.Fatalf("plugin process %d still alive after Close", pid)
	}
	if _, err := h.Transcode(context.Background(), testKey, src, smallLadder); !errors.Is(err, ErrClosed) {
		t.Fatalf("Transcode after Close = %v, want ErrClosed", err)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestSourceEndEndsRenditions(t *testing.T) {
	t.Parallel()
	clip := smallClip(t, 3*time.Second)
	h, _ := newHost(t, "fake", Config{Plugin: "echo"})
	src, took := play(t, clip, 1)
	time.Sleep(100 * time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rs, err := h.Transcode(ctx, testKey, src, smallLadder)
	if err != nil {
		t.Fatal(err)
	}
	got := collect(t, rs[0].Stream)
	<-took
	units := got()
	if n := len(videoPTS(clip.Units)); len(units) < n/2 {
		t.Fatalf("%d units of %d", len(units), n)
	}
	waitFor(t, "the session to end", 5*time.Second, func() bool { return len(h.Sessions()) == 0 })
}
