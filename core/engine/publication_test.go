package engine

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/core/origin"
	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
)

func TestStartAttachesOutputsOnce(t *testing.T) {
	second := &attachRecorder{}
	h := newHarness(t, func(_ *Config, d *Deps) { d.Outputs = append(d.Outputs, second) })
	k := key("s1")
	_, s := h.start(t, k)
	if s == nil {
		t.Fatal("Start returned no stream")
	}
	for i, out := range []*attachRecorder{h.out, second} {
		keys, streams := out.attached()
		if len(keys) != 1 || keys[0] != k || streams[0] != s {
			t.Fatalf("output %d: Attach calls %v %v, want once with %s", i, keys, streams, k)
		}
	}
	if got, ok := h.e.LocalStream(k); !ok || got != s {
		t.Fatalf("LocalStream = %v, %v", got, ok)
	}
	if live := h.e.Live(); len(live) != 1 || live[0].Stream != s {
		t.Fatalf("Live = %+v", live)
	}
	if got := s.Tracks(); len(got) != len(avTracks) || got[0].Codec != media.H264 {
		t.Fatalf("stream tracks = %+v", got)
	}
}

func TestStartRecordsTracks(t *testing.T) {
	tests := []struct {
		name         string
		tracks       []media.Track
		wantW, wantH int
		wantV, wantA string
	}{
		{"size from SPS", avTracks, 320, 240, "H264", "AAC"},
		{"size given", []media.Track{{Codec: media.H264, ClockRate: 90000, SPS: sps320x240, Width: 1280, Height: 720}}, 1280, 720, "H264", ""},
		{"bad SPS", []media.Track{{Codec: media.H264, ClockRate: 90000, SPS: []byte{0x67}}}, 0, 0, "H264", ""},
		{"audio only", []media.Track{{Codec: media.Opus, ClockRate: 48000}}, 0, 0, "", "Opus"},
		{"VP8 and Opus", []media.Track{{Codec: media.VP8, ClockRate: 90000, Width: 640, Height: 360}, {Codec: media.Opus, ClockRate: 48000}}, 640, 360, "VP8", "Opus"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			k := key("s1")
			pub := h.publish(t, k)
			defer pub.End(nil)
			before := h.clock.Now()
			h.clock.Advance(time.Second)
			if _, err := pub.Start(tt.tracks); err != nil {
				t.Fatalf("Start: %v", err)
			}
			b, _ := h.store.broadcast(k)
			if b.Width != tt.wantW || b.Height != tt.wantH || b.VideoCodec != tt.wantV || b.AudioCodec != tt.wantA {
				t.Fatalf("broadcast %dx%d video %q audio %q, want %dx%d %q %q",
					b.Width, b.Height, b.VideoCodec, b.AudioCodec, tt.wantW, tt.wantH, tt.wantV, tt.wantA)
			}
			if !b.UpdatedAt.After(before) || b.Status != stream.StatusBroadcasting {
				t.Fatalf("broadcast = %+v", b)
			}
		})
	}
}

func TestStartMisuse(t *testing.T) {
	h := newHarness(t)
	k := key("s1")
	pub := h.publish(t, k)
	if _, err := pub.Start(nil); err == nil {
		t.Fatal("Start without tracks succeeded")
	}
	s, err := pub.Start(avTracks)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if _, err := pub.Start(avTracks); err == nil {
		t.Fatal("second Start succeeded")
	}
	if got, _ := h.e.LocalStream(k); got != s {
		t.Fatal("second Start replaced the stream")
	}
	if keys, _ := h.out.attached(); len(keys) != 1 {
		t.Fatalf("outputs attached %d times", len(keys))
	}
	pub.End(nil)

	// Start after End would hand outputs a stream nobody closes.
	late := h.publish(t, key("s2"))
	late.End(nil)
	if s, err := late.Start(avTracks); err == nil {
		t.Fatalf("Start after End succeeded: %v", s)
	}
	if keys, _ := h.out.attached(); len(keys) != 1 {
		t.Fatalf("Start after End attached outputs (%d calls)", len(keys))
	}
	if _, ok := h.e.LocalStream(key("s2")); ok {
		t.Fatal("Start after End made the stream local")
	}
}

func TestEnd(t *testing.T) {
	tests := []struct {
		name  string
		err   error
		start bool
		want  stream.Status
	}{
		{"clean end", nil, true, stream.StatusFinished},
		{"failure", errors.New("connection reset"), true, stream.StatusFailed},
		{"end before start", nil, false, stream.StatusFinished},
		{"failure before start", errors.New("bad handshake"), false, stream.StatusFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			k := key("s1")
			pub := h.publish(t, k)
			var s *media.Stream
			if tt.start {
				var err error
				if s, err = pub.Start(avTracks); err != nil {
					t.Fatalf("Start: %v", err)
				}
			}
			end := h.clock.Advance(time.Minute)
			pub.End(tt.err)
			pub.End(errors.New("again")) // idempotent: the first End decides

			b, _ := h.store.broadcast(k)
			if b.Status != tt.want || !b.EndTime.Equal(end) {
				t.Fatalf("broadcast status %s end %v, want %s at %v", b.Status, b.EndTime, tt.want, end)
			}
			if _, ok := h.store.claim(k); ok {
				t.Fatal("claim not released")
			}
			if s != nil && !closed(s.Done()) {
				t.Fatal("stream not closed")
			}
			if _, ok := h.e.LocalStream(k); ok {
				t.Fatal("LocalStream after End")
			}
			if live := h.e.Live(); len(live) != 0 {
				t.Fatalf("Live after End = %+v", live)
			}
			// The stream can be published again.
			h.publish(t, k).End(nil)
		})
	}
}

func TestEndLeavesAnotherOriginsRecordAlone(t *testing.T) {
	h := newHarness(t)
	k := key("s1")
	pub := h.publish(t, k)
	// Meanwhile another origin took the stream over (this node looked dead).
	later := h.clock.Advance(testDead + time.Second)
	h.store.putClaim(origin.Claim{Stream: k, Node: "node-b", ClaimedAt: later, RenewedAt: later})
	b, _ := h.store.broadcast(k)
	b.OriginNode, b.StartTime = "node-b", later
	h.store.putBroadcast(b)

	pub.End(nil)
	if got, _ := h.store.broadcast(k); got.Status != stream.StatusBroadcasting || got.OriginNode != "node-b" {
		t.Fatalf("End changed the new origin's record: %+v", got)
	}
	if c, ok := h.store.claim(k); !ok || c.Node != "node-b" {
		t.Fatalf("End released the new origin's claim: %+v %v", c, ok)
	}
}

func TestEndWithStoreDown(t *testing.T) {
	h := newHarness(t)
	k := key("s1")
	pub, s := h.start(t, k)
	h.store.setDown(true)
	pub.End(nil) // must not block or panic
	h.store.setDown(false)
	if !closed(s.Done()) {
		t.Fatal("stream not closed")
	}
	if _, ok := h.e.LocalStream(k); ok {
		t.Fatal("LocalStream after End")
	}
}

func TestStop(t *testing.T) {
	h := newHarness(t)
	k := key("s1")
	pub, s := h.start(t, k)
	if h.e.Stop(key("unknown")) {
		t.Fatal("Stop of an unknown stream reported a publisher")
	}
	if closed(pub.Kicked()) {
		t.Fatal("kicked before Stop")
	}
	if !h.e.Stop(k) {
		t.Fatal("Stop = false for a live publisher")
	}
	waitClosed(t, "Kicked after Stop", pub.Kicked())
	if !h.e.Stop(k) { // still live until the publisher ends; kicking twice is harmless
		t.Fatal("second Stop = false")
	}
	if closed(s.Done()) {
		t.Fatal("Stop closed the stream itself; the publisher ends it")
	}
	pub.End(nil)
	if h.e.Stop(k) {
		t.Fatal("Stop after End = true")
	}
}

func TestPlayWaitsForStart(t *testing.T) {
	h := newHarness(t)
	k := key("s1")
	pub := h.publish(t, k)
	defer pub.End(nil)

	type result struct {
		s   *media.Stream
		err error
	}
	got := make(chan result, 1)
	go func() {
		s, err := h.e.Play(ctxT(t), ports.PlayRequest{Key: k, Protocol: "hls"})
		got <- result{s, err}
	}()
	select {
	case r := <-got:
		t.Fatalf("Play returned before Start: %+v", r)
	case <-time.After(50 * time.Millisecond):
	}
	s, err := pub.Start(avTracks)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	select {
	case r := <-got:
		if r.err != nil || r.s != s {
			t.Fatalf("Play = %v, %v; want the started stream", r.s, r.err)
		}
	case <-time.After(waitFor):
		t.Fatal("Play did not return after Start")
	}
	// Once started, Play answers at once.
	if s2, err := h.e.Play(ctxT(t), ports.PlayRequest{Key: k}); err != nil || s2 != s {
		t.Fatalf("Play after Start = %v, %v", s2, err)
	}
}

func TestPlayBeforeStartBoundedByContext(t *testing.T) {
	h := newHarness(t)
	k := key("s1")
	pub := h.publish(t, k)
	defer pub.End(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if _, err := h.e.Play(ctx, ports.PlayRequest{Key: k}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Play = %v, want the context's deadline", err)
	}
}

func TestPlayWaitingWhenPublisherEnds(t *testing.T) {
	h := newHarness(t)
	k := key("s1")
	pub := h.publish(t, k)
	got := make(chan error, 1)
	go func() {
		_, err := h.e.Play(ctxT(t), ports.PlayRequest{Key: k})
		got <- err
	}()
	time.Sleep(20 * time.Millisecond)
	pub.End(errors.New("gone"))
	select {
	case err := <-got:
		if !errors.Is(err, ports.ErrStreamNotFound) {
			t.Fatalf("Play = %v, want ErrStreamNotFound", err)
		}
	case <-time.After(waitFor):
		t.Fatal("Play still waiting after the publisher ended")
	}
}

func TestPlayRefusals(t *testing.T) {
	errNoToken := errors.New("no token")
	tests := []struct {
		name string
		opts []option
		live bool // s1 is published here, yet Play is refused
		key  stream.Key
		want error
	}{
		{"unknown stream, no puller", nil, false, key("nobody"), ports.ErrStreamNotFound},
		{"origin role", []option{withRole("origin")}, true, key("s1"), ports.ErrRoleRefused},
		{"unknown app", nil, false, stream.Key{App: "Other", ID: "s1"}, ports.ErrUnknownApp},
		{"auth refusal", []option{withAuth(fakeAuth{play: func(ports.PlayRequest) error { return errNoToken }})}, true, key("s1"), errNoToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.opts...)
			if tt.live {
				h.start(t, key("s1"))
			}
			s, err := h.e.Play(ctxT(t), ports.PlayRequest{Key: tt.key, Protocol: "hls"})
			if !errors.Is(err, tt.want) || s != nil {
				t.Fatalf("Play = %v, %v; want %v", s, err, tt.want)
			}
		})
	}
}
