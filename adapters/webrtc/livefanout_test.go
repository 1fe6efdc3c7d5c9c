package webrtc

import (
	"bytes"
	"context"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/ports"
)

// TestLiveFanoutJoins: viewers join a stream while it runs, each while
// the others are being sent to; each gets its start-up burst (the frames
// since the keyframe, one tick apart) and then every later frame once,
// 1/30 s apart: nothing lost or sent twice at the hand-over from the
// burst to the shared fan-out, and all of them from one stream reader.
// On the muxed port, the fan-out hands the processor to the socket's
// sender between viewers (batchConn.handOff) while holding its lock, as
// joiners go live: nothing waits on another for good.
func TestLiveFanoutJoins(t *testing.T) {
	for name, cfg := range map[string]Config{
		"one goroutine":          {},
		"a goroutine per viewer": {fanoutChunk: 1},
		"on the muxed port, handing off to its sender between viewers": {UDPMuxPort: freeUDPPort(t), fanoutYieldEvery: 1},
	} {
		t.Run(name, func(t *testing.T) { testLiveFanoutJoins(t, cfg) })
	}
}

// testLiveFanoutJoins runs TestLiveFanoutJoins with the server's cfg.
func testLiveFanoutJoins(t *testing.T, cfg Config) {
	if cfg.fanoutYieldEvery > 0 {
		// One processor, as the governor sets it under light load: the
		// socket's sender runs only when the fan-out hands off to it.
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	}
	fx := loadH264Fixture(t, 3)
	st := media.NewStream([]media.Track{{Codec: media.H264, ClockRate: 90000, SPS: fx.sps, PPS: fx.pps}}, media.StreamConfig{})
	defer st.Close()
	play := fakePlayback{play: func(context.Context, ports.PlayRequest) (*media.Stream, error) { return st, nil }}
	// Each viewer takes 50 ms between its burst and going live: about
	// ten frames come meanwhile, kept for it.
	cfg.beforeLive = func() { time.Sleep(50 * time.Millisecond) }
	s, hs := newTestServer(t, cfg, fakeIngest{publish: noPublish}, play)

	written := 0
	feed := func(until int) {
		for ; written < until; written++ {
			st.Write(fx.unit(written))
			time.Sleep(5 * time.Millisecond)
		}
	}
	feed(10)
	join := func() *viewerClient {
		v := newViewerClient(t)
		playWHEP(t, hs.URL+"/LiveApp/whep/cam1", v.pc)
		return v
	}
	// The first viewer comes with 10 frames cached, the others while the
	// stream is written (the feed goes on in the background).
	viewers := []*viewerClient{join()}
	waitConnected(t, viewers[0].pc)
	done := make(chan struct{})
	go func() {
		defer close(done)
		feed(len(fx.aus))
	}()
	for range 2 {
		time.Sleep(60 * time.Millisecond)
		v := join()
		waitConnected(t, v.pc)
		viewers = append(viewers, v)
	}
	<-done
	if n := st.Readers(); n != 1 {
		t.Fatalf("%d stream readers for %d viewers, want 1", n, len(viewers))
	}
	for i, v := range viewers {
		// Wait for the last frame but one (the sample builder keeps the
		// last).
		waitFor(t, "the last frames", 10*time.Second, func() bool {
			samples, _, _ := v.received()
			return len(samples) > 0 && isFrame(samples[len(samples)-1], fx.aus[len(fx.aus)-2])
		})
		_, stamps, _ := v.received()
		b := burstLen(stamps)
		for j := b; j < len(stamps); j++ {
			if d := stamps[j] - stamps[j-1]; d < 2999 || d > 3001 { // 1/30 s, rounded
				t.Fatalf("viewer %d: frame %d is %d ticks after the previous one, want 3000 (1/30 s): a frame lost or sent twice at the hand-over (burst of %d)", i, j, d, b)
			}
		}
		samples, _, _ := v.received()
		start := len(fx.aus) - 1 - len(samples)
		if start%30 != 0 || !isFrame(samples[0], fx.aus[start]) {
			t.Fatalf("viewer %d does not start at keyframe %d", i, start)
		}
		t.Logf("viewer %d: started at frame %d, a burst of %d, %d frames", i, start, b, len(stamps))
	}
	// A viewer that got every frame in its burst (it came as the feed
	// ended) may still be in its pause before going live.
	waitFor(t, "every viewer live in the fan-out", 5*time.Second, func() bool { return liveMembers(s, st) == len(viewers) })
}

// burstLen is the number of frames of the start-up burst: the first
// frame and those one tick after their predecessor.
func burstLen(stamps []uint32) int {
	n := 1
	for n < len(stamps) && stamps[n]-stamps[n-1] == 1 {
		n++
	}
	return n
}

// isFrame reports whether a received sample (Annex-B) is the access unit
// au: it ends with au's last NAL unit.
func isFrame(sample []byte, au [][]byte) bool {
	return len(au) > 0 && bytes.HasSuffix(sample, au[len(au)-1])
}

// TestLiveMemberPendingOverflow: a viewer whose burst takes so long that
// more than fanoutPendingMax units come meanwhile drops them and resumes
// at a keyframe.
func TestLiveMemberPendingOverflow(t *testing.T) {
	m := &liveMember{}
	u := &media.Unit{}
	for range fanoutPendingMax {
		m.take(u)
	}
	if len(m.pending) != fanoutPendingMax || m.lost {
		t.Fatalf("%d pending, lost %v", len(m.pending), m.lost)
	}
	m.take(u)
	if m.pending != nil || !m.lost {
		t.Fatalf("after overflow: %d pending, lost %v", len(m.pending), m.lost)
	}
	m.take(u)
	if m.pending != nil {
		t.Fatal("units kept after the overflow")
	}
}

// TestLiveFanoutSkipsWhenBehind: units that reach the fan-out more than
// fanoutMaxLag after they entered the server (a machine past its
// capacity) are not sent; the fan-out skips them, stale keyframe
// included, and resumes at the first fresh keyframe, so that its viewers
// come back live instead of staying seconds behind. Ingest times from a
// clock far from this node's (an origin's, on an edge) are not lateness:
// every unit here carries a constant offset, and only the stale ones are
// skipped.
func TestLiveFanoutSkipsWhenBehind(t *testing.T) {
	for name, skew := range map[string]time.Duration{"same clock": 0, "origin clock 5 s behind": 5 * time.Second, "origin clock 5 s ahead": -5 * time.Second} {
		t.Run(name, func(t *testing.T) { testLiveFanoutSkipsWhenBehind(t, skew) })
	}
}

func testLiveFanoutSkipsWhenBehind(t *testing.T, skew time.Duration) {
	fx := loadH264Fixture(t, 4) // keyframes at frames 0, 30, 60, 90
	st := media.NewStream([]media.Track{{Codec: media.H264, ClockRate: 90000, SPS: fx.sps, PPS: fx.pps}}, media.StreamConfig{})
	defer st.Close()
	play := fakePlayback{play: func(context.Context, ports.PlayRequest) (*media.Stream, error) { return st, nil }}
	s, hs := newTestServer(t, Config{}, fakeIngest{publish: noPublish}, play)

	write := func(from, to int, age time.Duration) {
		for i := from; i < to; i++ {
			u := fx.unit(i)
			u.Ingest = time.Now().Add(-age - skew)
			st.Write(u)
			time.Sleep(5 * time.Millisecond)
		}
	}
	write(0, 10, 0)
	v := playingViewer(t, hs.URL+"/LiveApp/whep/cam1")
	const stale = 3 * time.Second
	if l := fanoutMaxLag(s.cfg.LagLimit); l >= stale {
		t.Fatalf("fanoutMaxLag = %v, the test's stale units are only %v old", l, stale)
	}
	write(10, 60, stale) // the fan-out is "behind": keyframe 30 is stale too
	write(60, len(fx.aus), 0)
	waitFor(t, "the last frames", 10*time.Second, func() bool {
		samples, _, _ := v.received()
		return len(samples) > 0 && isFrame(samples[len(samples)-1], fx.aus[len(fx.aus)-2])
	})
	samples, _, _ := v.received()
	resumed := -1
	for j, smp := range samples {
		for i := 10; i < 60; i++ {
			if isFrame(smp, fx.aus[i]) {
				t.Fatalf("stale frame %d sent (sample %d)", i, j)
			}
		}
		if resumed < 0 && isFrame(smp, fx.aus[60]) {
			resumed = j
		}
	}
	if resumed < 0 || !isFrame(samples[resumed-1], fx.aus[9]) {
		t.Fatalf("did not resume at the fresh keyframe 60 right after frame 9 (resumed at sample %d of %d)", resumed, len(samples))
	}
	if n := s.Stats().FanoutSkips; n != 1 {
		t.Errorf("FanoutSkips = %d, want 1 (one skip to a fresh keyframe)", n)
	}
}

// TestLiveFanoutDropsStaleAudio: an audio-only fan-out (an Opus
// companion) that falls behind drops each frame older than fanoutMaxLag
// and goes on with the next fresh one: audio frames stand alone.
func TestLiveFanoutDropsStaleAudio(t *testing.T) {
	s, _ := newTestServer(t, Config{}, fakeIngest{publish: noPublish}, fakePlayback{})
	st := media.NewStream([]media.Track{{Codec: media.Opus, ClockRate: 48000, Channels: 2}}, media.StreamConfig{})
	defer st.Close()
	var (
		mu  sync.Mutex
		got []time.Duration
	)
	m := &liveMember{pl: &player{peer: &peer{key: testKey}}, live: true, anchored: true,
		send: func(u *media.Unit, _ time.Duration) {
			mu.Lock()
			got = append(got, u.PTS)
			mu.Unlock()
		}}
	f, _, err := s.join(st, m)
	if err != nil {
		t.Fatal(err)
	}
	defer s.leave(f, m)
	const frame = 20 * time.Millisecond
	for i := range 15 {
		u := &media.Unit{Track: 0, PTS: time.Duration(i) * frame, DTS: time.Duration(i) * frame, Key: true, Data: []byte{0xfc, byte(i)}}
		u.Ingest = time.Now()
		if i >= 5 && i < 10 {
			u.Ingest = u.Ingest.Add(-3 * time.Second) // the fan-out is "behind"
		}
		st.Write(u)
	}
	want := []time.Duration{0, 20, 40, 60, 80, 200, 220, 240, 260, 280}
	for i := range want {
		want[i] *= time.Millisecond
	}
	waitFor(t, "the fresh frames", 5*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) >= len(want)
	})
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(got, want) {
		t.Errorf("sent %v, want %v (the stale frames 100-180 ms dropped, the rest in order)", got, want)
	}
	if n := s.Stats().FanoutSkips; n != 5 {
		t.Errorf("FanoutSkips = %d, want 5 (one per stale frame)", n)
	}
}

// TestLiveFanoutLagAt: while the fan-out delivers a unit, lagAt is that
// unit's age (less the floor), which the send-lag guard counts for every
// viewer of the fan-out; between units it is 0.
func TestLiveFanoutLagAt(t *testing.T) {
	fx := loadH264Fixture(t, 1)
	st := media.NewStream([]media.Track{{Codec: media.H264, ClockRate: 90000, SPS: fx.sps, PPS: fx.pps}}, media.StreamConfig{})
	defer st.Close()
	play := fakePlayback{play: func(context.Context, ports.PlayRequest) (*media.Stream, error) { return st, nil }}
	s, hs := newTestServer(t, Config{}, fakeIngest{publish: noPublish}, play)
	write := func(i int, age time.Duration) {
		u := fx.unit(i)
		u.Ingest = time.Now().Add(-age)
		st.Write(u)
	}
	for i := range 10 {
		write(i, 0)
		time.Sleep(5 * time.Millisecond)
	}
	playingViewer(t, hs.URL+"/LiveApp/whep/cam1")
	s.mu.Lock()
	f := s.fanouts[st]
	var pl *player
	for _, p := range s.sessions {
		pl = p.play
	}
	s.mu.Unlock()
	if f == nil || pl == nil || pl.fan.Load() != f {
		t.Fatalf("the viewer's fan-out is not recorded (fan-out %p, viewer's %v)", f, pl)
	}
	if l := f.lagAt(time.Now()); l != 0 {
		t.Fatalf("lagAt between units = %v, want 0", l)
	}
	f.mu.Lock() // the next unit's delivery waits: the fan-out is "behind"
	write(10, 500*time.Millisecond)
	waitFor(t, "the fan-out to take the late unit", 5*time.Second, func() bool { return f.lagAt(time.Now()) >= 400*time.Millisecond })
	f.mu.Unlock()
	waitFor(t, "the delivery to end", 5*time.Second, func() bool { return f.lagAt(time.Now()) == 0 })
}

// playingViewer plays url over WHEP until the first frames arrive.
func playingViewer(t *testing.T, url string) *viewerClient {
	t.Helper()
	v := newViewerClient(t)
	playWHEP(t, url, v.pc)
	waitConnected(t, v.pc)
	waitFor(t, "the first frames", 10*time.Second, func() bool {
		samples, _, _ := v.received()
		return len(samples) > 0
	})
	return v
}

// waitEnded fails the test with msg unless f's goroutine ends within 5 s.
func waitEnded(t *testing.T, f *liveFanout, msg string) {
	t.Helper()
	select {
	case <-f.ended:
	case <-time.After(5 * time.Second):
		t.Fatal(msg)
	}
}

// lockFreeWithin reports whether mu can be taken within d. If not, its
// goroutine takes it once it is free.
func lockFreeWithin(mu *sync.Mutex, d time.Duration) bool {
	got := make(chan struct{})
	go func() {
		mu.Lock()
		mu.Unlock() //nolint:staticcheck // only whether it can be taken
		close(got)
	}()
	select {
	case <-got:
		return true
	case <-time.After(d):
		return false
	}
}

// TestFanoutJoinLeaveServerLockFree: a viewer that joins or leaves while
// a unit is being delivered (the fan-out's lock held) waits for the
// delivery without holding the server's lock, so that other sessions'
// registrations, lookups, joins and leaves do not wait behind it.
func TestFanoutJoinLeaveServerLockFree(t *testing.T) {
	s, _ := newTestServer(t, Config{}, fakeIngest{publish: noPublish}, fakePlayback{})
	st := media.NewStream([]media.Track{{Codec: media.Opus, ClockRate: 48000, Channels: 2}}, media.StreamConfig{})
	defer st.Close()
	member := func() *liveMember { return &liveMember{pl: &player{peer: &peer{key: testKey}}} }
	a, b := member(), member()
	f, _, err := s.join(st, a)
	if err != nil {
		t.Fatal(err)
	}

	f.mu.Lock() // a delivery
	joined := make(chan error, 1)
	go func() {
		_, _, err := s.join(st, b)
		joined <- err
	}()
	time.Sleep(100 * time.Millisecond) // the joiner reaches the fan-out's lock
	if !lockFreeWithin(&s.mu, 2*time.Second) {
		f.mu.Unlock()
		t.Fatal("the server's lock is held while a joiner waits for a delivery")
	}
	select {
	case err := <-joined:
		f.mu.Unlock()
		t.Fatalf("joined during a delivery (%v)", err)
	default:
	}
	f.mu.Unlock()
	if err := <-joined; err != nil {
		t.Fatal(err)
	}

	f.mu.Lock()
	left := make(chan struct{})
	go func() {
		s.leave(f, a)
		close(left)
	}()
	time.Sleep(100 * time.Millisecond)
	if !lockFreeWithin(&s.mu, 2*time.Second) {
		f.mu.Unlock()
		t.Fatal("the server's lock is held while a leaver waits for a delivery")
	}
	f.mu.Unlock()
	<-left

	f.mu.Lock()
	members, closed := len(f.members), f.closed.Load()
	f.mu.Unlock()
	if members != 1 || closed {
		t.Fatalf("after one of two left: %d members, closed %v; want 1, open", members, closed)
	}
	s.leave(f, b)
	if !f.closed.Load() {
		t.Fatal("the fan-out is open after its last viewer left")
	}
	s.mu.Lock()
	_, listed := s.fanouts[st]
	s.mu.Unlock()
	if listed {
		t.Fatal("the server still lists the fan-out its last viewer left")
	}
	waitEnded(t, f, "the fan-out's goroutine did not end after its last viewer left")
}

// TestFanoutJoinAfterClose: a fan-out that closed after a joiner looked it
// up (its last viewer left, its stream ended) is not joined: the joiner
// starts another, which the closed one's end does not unlist.
func TestFanoutJoinAfterClose(t *testing.T) {
	s, _ := newTestServer(t, Config{}, fakeIngest{publish: noPublish}, fakePlayback{})
	st := media.NewStream([]media.Track{{Codec: media.Opus, ClockRate: 48000, Channels: 2}}, media.StreamConfig{})
	defer st.Close()
	a := &liveMember{pl: &player{peer: &peer{key: testKey}}}
	f, _, err := s.join(st, a)
	if err != nil {
		t.Fatal(err)
	}
	// Closed, and still listed: as between a leave's emptying it and its
	// unlisting it.
	f.mu.Lock()
	f.closed.Store(true)
	f.mu.Unlock()
	b := &liveMember{pl: &player{peer: &peer{key: testKey}}}
	f2, _, err := s.join(st, b)
	if err != nil {
		t.Fatal(err)
	}
	defer s.leave(f2, b)
	if f2 == f {
		t.Fatal("joined a closed fan-out")
	}
	f.r.Close() // the closed one's goroutine ends
	waitEnded(t, f, "the closed fan-out's goroutine did not end")
	s.mu.Lock()
	listed := s.fanouts[st]
	s.mu.Unlock()
	if listed != f2 {
		t.Fatalf("the server lists %p for the stream, want the new fan-out %p", listed, f2)
	}
	// The stream ends: a joiner gets its error, not a fan-out.
	st.Close()
	waitEnded(t, f2, "the fan-out did not end with its stream")
	if _, _, err := s.join(st, &liveMember{pl: &player{peer: &peer{key: testKey}}}); err == nil {
		t.Fatal("joined an ended stream")
	}
}
