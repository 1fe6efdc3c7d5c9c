package engine

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
)

// fakeBridge is a ports.AudioBridge whose streams end with ctx or src.
type fakeBridge struct {
	calls atomic.Int32
	err   error
	delay time.Duration
}

func (f *fakeBridge) BridgeAudio(ctx context.Context, _ stream.Key, src *media.Stream, to media.Codec, _ int) (*media.Stream, error) {
	f.calls.Add(1)
	time.Sleep(f.delay)
	if f.err != nil {
		return nil, f.err
	}
	s := media.NewStream([]media.Track{{Codec: to, ClockRate: 48000, SampleRate: 48000, Channels: 2}}, media.StreamConfig{})
	go func() {
		select {
		case <-ctx.Done():
		case <-src.Done():
		}
		s.Close()
	}()
	return s, nil
}

func withBridge(b ports.AudioBridge) option { return func(_ *Config, d *Deps) { d.AudioBridge = b } }

func TestOpusFor(t *testing.T) {
	b := &fakeBridge{delay: 20 * time.Millisecond}
	h := newHarness(t, withBridge(b))
	k := key("s1")
	if _, err := h.e.OpusFor(ctxT(t), k); !errors.Is(err, ports.ErrStreamNotFound) {
		t.Fatalf("OpusFor before publish = %v", err)
	}
	pub, src := h.start(t, k)
	type res struct {
		s   *media.Stream
		err error
	}
	got := make(chan res, 3)
	for range 3 {
		go func() {
			s, err := h.e.OpusFor(ctxT(t), k)
			got <- res{s, err}
		}()
	}
	var first *media.Stream
	for range 3 {
		r := <-got
		if r.err != nil || r.s == nil || r.s.Tracks()[0].Codec != media.Opus {
			t.Fatalf("OpusFor = %v, %v", r.s, r.err)
		}
		if first == nil {
			first = r.s
		} else if r.s != first {
			t.Fatal("viewers got different bridges")
		}
	}
	if n := b.calls.Load(); n != 1 {
		t.Fatalf("BridgeAudio called %d times, want once", n)
	}
	pub.End(nil)
	waitClosed(t, "bridge ends with the source", first.Done())
	if !closed(src.Done()) {
		t.Fatal("source not closed")
	}
}

// opusTracks are a WebRTC publication's: H.264 and Opus.
var opusTracks = []media.Track{
	{Codec: media.H264, ClockRate: 90000, SPS: sps320x240, PPS: []byte{0x68, 0xeb, 0xe3, 0xcb}},
	{Codec: media.Opus, ClockRate: 48000, SampleRate: 48000, Channels: 2},
}

func TestAACFor(t *testing.T) {
	b := &fakeBridge{delay: 20 * time.Millisecond}
	h := newHarness(t, withBridge(b))
	k := key("s1")
	pub := h.publish(t, k)
	defer pub.End(nil)
	src, err := pub.Start(opusTracks)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *media.Stream, 2)
	for range 2 {
		go func() {
			s, err := h.e.AACFor(ctxT(t), k)
			if err != nil {
				t.Errorf("AACFor = %v", err)
			}
			got <- s
		}()
	}
	a, c := <-got, <-got
	if a == nil || a != c || a.Tracks()[0].Codec != media.AAC {
		t.Fatalf("AACFor gave %v and %v, want one shared AAC stream", a, c)
	}
	// The Opus companion of an Opus stream does not exist; the AAC one is
	// not started again.
	if _, err := h.e.OpusFor(ctxT(t), k); !errors.Is(err, ErrNoAudioBridge) {
		t.Fatalf("OpusFor of an Opus stream = %v, want ErrNoAudioBridge", err)
	}
	if n := b.calls.Load(); n != 1 {
		t.Fatalf("BridgeAudio called %d times, want once", n)
	}
	pub.End(nil)
	waitClosed(t, "companion ends with the source", a.Done())
	if !closed(src.Done()) {
		t.Fatal("source not closed")
	}
}

// A companion that cannot exist is refused with ErrNoAudioBridge: no
// bridge, no source audio of the other codec, or a failing bridge.
func TestCompanionRefusals(t *testing.T) {
	opusFor := func(h *harness) (*media.Stream, error) { return h.e.OpusFor(ctxT(t), key("s1")) }
	aacFor := func(h *harness) (*media.Stream, error) { return h.e.AACFor(ctxT(t), key("s1")) }
	tests := []struct {
		name   string
		bridge ports.AudioBridge
		tracks []media.Track
		get    func(*harness) (*media.Stream, error)
	}{
		{"Opus: no bridge", nil, avTracks, opusFor},
		{"Opus: no AAC", &fakeBridge{}, []media.Track{{Codec: media.H264, ClockRate: 90000}, {Codec: media.Opus, ClockRate: 48000}}, opusFor},
		{"Opus: bridge fails", &fakeBridge{err: errors.New("no plugin")}, avTracks, opusFor},
		{"AAC: no bridge", nil, opusTracks, aacFor},
		{"AAC: no Opus", &fakeBridge{}, avTracks, aacFor},
		{"AAC: bridge fails", &fakeBridge{err: errors.New("no plugin")}, opusTracks, aacFor},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, withBridge(tt.bridge))
			pub := h.publish(t, key("s1"))
			defer pub.End(nil)
			if _, err := pub.Start(tt.tracks); err != nil {
				t.Fatal(err)
			}
			if _, err := tt.get(h); !errors.Is(err, ErrNoAudioBridge) {
				t.Fatalf("companion = %v, want ErrNoAudioBridge", err)
			}
		})
	}
}

// A companion nobody reads stops after CompanionIdle, and the next viewer
// starts a new bridge; one with a reader, or handed out a moment ago, stays.
func TestCompanionIdle(t *testing.T) {
	const idle = 200 * time.Millisecond
	h, b, k, first, r := watchCompanion(t, idle)
	time.Sleep(4 * idle)
	if closed(first.Done()) {
		t.Fatal("a companion with a reader was stopped")
	}
	r.Close()
	waitClosed(t, "the idle companion stops", first.Done())

	second, err := h.e.OpusFor(ctxT(t), k)
	if err != nil {
		t.Fatal(err)
	}
	if second == first || closed(second.Done()) || b.calls.Load() != 2 {
		t.Fatalf("after the idle stop: a new open companion wanted (same: %v, closed: %v, bridges started: %d)",
			second == first, closed(second.Done()), b.calls.Load())
	}
	time.Sleep(idle / 4) // handed out, not yet read: kept (150 ms to spare on a busy machine)
	if closed(second.Done()) {
		t.Fatal("a companion just handed to a viewer was stopped")
	}
	waitClosed(t, "a companion handed out but never read stops too", second.Done())
}

// The idle wait runs from the last reader's leaving and from the last
// hand-out at once: a viewer that came and went stops the companion
// CompanionIdle after it came (and a tick), not after twice as long.
func TestCompanionIdleStopsOnTime(t *testing.T) {
	const idle = time.Second // ticks every 250 ms
	handed := time.Now()
	_, _, _, s, r := watchCompanion(t, idle)
	r.Close() // the viewer leaves at once
	waitClosed(t, "the idle companion stops", s.Done())
	// At the latest a tick after both waits end (1.25 s), plus scheduling;
	// waiting for them one after the other takes 2 s at the least.
	if took := time.Since(handed); took < idle || took >= 1900*time.Millisecond {
		t.Errorf("stopped %v after it was handed out, want %v to %v", took, idle, idle+idle/4)
	}
}

// watchCompanion publishes a stream on an engine whose companions stop
// after idle, asks for its Opus companion and subscribes to it, as a
// WebRTC viewer does.
func watchCompanion(t *testing.T, idle time.Duration) (*harness, *fakeBridge, stream.Key, *media.Stream, *media.Reader) {
	t.Helper()
	b := &fakeBridge{}
	h := newHarness(t, withBridge(b), func(c *Config, _ *Deps) { c.CompanionIdle = idle })
	k := key("s1")
	pub, _ := h.start(t, k)
	t.Cleanup(func() { pub.End(nil) })
	s, err := h.e.OpusFor(ctxT(t), k)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	return h, b, k, s, r
}
