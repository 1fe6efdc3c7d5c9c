package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/core/node"
	"github.com/colony-live/colony/core/origin"
	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
)

// scriptedPuller answers the n-th Open (from 1) with script(n, from) and
// records every claim it was asked to pull from.
type scriptedPuller struct {
	script func(ctx context.Context, n int, from origin.Claim) (ports.PullSession, error)

	mu    sync.Mutex
	froms []origin.Claim
}

func (p *scriptedPuller) Open(ctx context.Context, _ stream.Key, from origin.Claim) (ports.PullSession, error) {
	p.mu.Lock()
	p.froms = append(p.froms, from)
	n := len(p.froms)
	p.mu.Unlock()
	return p.script(ctx, n, from)
}

func (p *scriptedPuller) opens() []origin.Claim {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]origin.Claim(nil), p.froms...)
}

// sessions answers Open number i with ss[i-1], and an error past the end.
func sessions(ss ...*fakeSession) func(context.Context, int, origin.Claim) (ports.PullSession, error) {
	return func(_ context.Context, n int, _ origin.Claim) (ports.PullSession, error) {
		if n > len(ss) {
			return nil, fmt.Errorf("unexpected Open #%d", n)
		}
		return ss[n-1], nil
	}
}

// originClaim is a fresh claim on k by id at the clock's time.
func (h *harness) originClaim(k stream.Key, id node.ID) origin.Claim {
	now := h.clock.Now()
	c := origin.Claim{Stream: k, Node: id, RelayAddr: string(id) + ":7000", ClaimedAt: now, RenewedAt: now}
	h.store.putClaim(c)
	return c
}

// edge returns a running edge engine pulling through p, whose viewer
// counter reports the returned (changeable) count.
func edge(t *testing.T, p ports.Puller, viewers int64, opts ...option) (*harness, *atomic.Int64) {
	t.Helper()
	n, vc := constViewers(viewers)
	h := newHarness(t, append([]option{withRole(node.RoleEdge), withPuller(p), withViewers("hls", vc)}, opts...)...)
	h.run(t)
	return h, n
}

func TestEdgePullSingleflight(t *testing.T) {
	sess := newFakeSession(avTracks)
	p := &scriptedPuller{script: func(_ context.Context, n int, _ origin.Claim) (ports.PullSession, error) {
		time.Sleep(30 * time.Millisecond) // let every viewer arrive while the pull opens
		if n != 1 {
			return nil, fmt.Errorf("unexpected Open #%d", n)
		}
		return sess, nil
	}}
	h, _ := edge(t, p, 1)
	k := key("s1")
	want := h.originClaim(k, "origin-1")

	ctx := ctxT(t)
	const viewers = 20
	got := make([]*media.Stream, viewers)
	errs := make([]error, viewers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range viewers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			got[i], errs[i] = h.e.Play(ctx, ports.PlayRequest{Key: k, Protocol: "hls"})
		}()
	}
	close(start)
	wg.Wait()

	for i := range viewers {
		if errs[i] != nil || got[i] == nil || got[i] != got[0] {
			t.Fatalf("viewer %d: Play = %p, %v; want the one stream %p", i, got[i], errs[i], got[0])
		}
	}
	if opens := p.opens(); len(opens) != 1 || opens[0] != want {
		t.Fatalf("Open calls = %+v, want one from %+v", opens, want)
	}
	if keys, streams := h.out.attached(); len(keys) != 1 || keys[0] != k || streams[0] != got[0] {
		t.Fatalf("outputs attached %v, want once", keys)
	}
	if s, ok := h.e.LocalStream(k); !ok || s != got[0] {
		t.Fatal("LocalStream does not return the pulled stream")
	}
	if live := h.e.Live(); len(live) != 1 || !live[0].Pulled || live[0].PublishType != stream.PublishPull {
		t.Fatalf("Live = %+v", live)
	}
	if h.e.Stop(k) {
		t.Fatal("Stop of a pulled stream = true")
	}
	if got[0].Tracks()[0].Codec != media.H264 || len(got[0].Tracks()) != 2 {
		t.Fatalf("pulled stream tracks = %+v", got[0].Tracks())
	}
	eventually(t, "session Run", sess.ran.Load)
	// Units flow from the session into the stream.
	r, err := got[0].Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	u := &media.Unit{Track: 0, Key: true, DTS: time.Second, PTS: time.Second, Data: []byte{1}}
	if !sess.send(u) {
		t.Fatal("session ended")
	}
	if gotU, err := r.Next(ctxT(t)); err != nil || gotU.DTS != time.Second {
		t.Fatalf("reader got %+v, %v", gotU, err)
	}
}

func TestEdgePullRefusals(t *testing.T) {
	tests := []struct {
		name  string
		claim func(h *harness, k stream.Key)
	}{
		{"no claim", func(*harness, stream.Key) {}},
		{"stale origin", func(h *harness, k stream.Key) {
			h.originClaim(k, "origin-1")
			h.clock.Advance(testDead + time.Second)
		}},
		{"claimed by this node", func(h *harness, k stream.Key) { h.originClaim(k, selfID) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &scriptedPuller{script: sessions()}
			h, _ := edge(t, p, 1)
			k := key("s1")
			tt.claim(h, k)
			s, err := h.e.Play(ctxT(t), ports.PlayRequest{Key: k, Protocol: "hls"})
			if !errors.Is(err, ports.ErrStreamNotFound) || s != nil {
				t.Fatalf("Play = %v, %v; want ErrStreamNotFound", s, err)
			}
			if opens := p.opens(); len(opens) != 0 {
				t.Fatalf("Open called %d times", len(opens))
			}
			if live := h.e.Live(); len(live) != 0 {
				t.Fatalf("Live = %+v", live)
			}
		})
	}
}

func TestEdgePullStoreUnavailable(t *testing.T) {
	p := &scriptedPuller{script: sessions(newFakeSession(avTracks))}
	h, _ := edge(t, p, 1)
	k := key("s1")
	h.originClaim(k, "origin-1")
	h.store.failOn("Origin", true)
	if _, err := h.e.Play(ctxT(t), ports.PlayRequest{Key: k}); !errors.Is(err, ports.ErrUnavailable) {
		t.Fatalf("Play = %v, want ErrUnavailable", err)
	}
	h.store.failOn("Origin", false)
	if _, err := h.e.Play(ctxT(t), ports.PlayRequest{Key: k}); err != nil {
		t.Fatalf("Play once the store is back: %v", err)
	}
}

func TestEdgePullWaitsForOriginToStart(t *testing.T) {
	sess := newFakeSession(avTracks)
	p := &scriptedPuller{script: func(_ context.Context, n int, _ origin.Claim) (ports.PullSession, error) {
		if n <= 2 {
			return nil, fmt.Errorf("relay: %w", ports.ErrStreamNotFound) // claimed, not started yet
		}
		return sess, nil
	}}
	h, _ := edge(t, p, 1)
	k := key("s1")
	h.originClaim(k, "origin-1")
	s, err := h.e.Play(ctxT(t), ports.PlayRequest{Key: k})
	if err != nil || s == nil {
		t.Fatalf("Play = %v, %v", s, err)
	}
	if n := len(p.opens()); n != 3 {
		t.Fatalf("Open called %d times, want 3", n)
	}
}

func TestEdgePullOpenFailure(t *testing.T) {
	errDial := errors.New("dial tcp: connection refused")
	sess := newFakeSession(avTracks)
	p := &scriptedPuller{script: func(_ context.Context, n int, _ origin.Claim) (ports.PullSession, error) {
		if n == 1 {
			return nil, errDial
		}
		return sess, nil
	}}
	h, _ := edge(t, p, 1)
	k := key("s1")
	h.originClaim(k, "origin-1")
	_, err := h.e.Play(ctxT(t), ports.PlayRequest{Key: k})
	if !errors.Is(err, errDial) || errors.Is(err, ports.ErrStreamNotFound) {
		t.Fatalf("Play = %v, want the dial error", err)
	}
	// The failed pull is forgotten: the next viewer tries again.
	if s, err := h.e.Play(ctxT(t), ports.PlayRequest{Key: k}); err != nil || s == nil {
		t.Fatalf("second Play = %v, %v", s, err)
	}
	if n := len(p.opens()); n != 2 {
		t.Fatalf("Open called %d times, want 2", n)
	}
}

// videoUnits returns n video units from DTS start, 33 ms apart, PTS 66 ms
// after DTS, a keyframe every 5.
func videoUnits(start time.Duration, n int) []*media.Unit {
	us := make([]*media.Unit, n)
	for i := range us {
		dts := start + time.Duration(i)*33*time.Millisecond
		us[i] = &media.Unit{Track: 0, DTS: dts, PTS: dts + 66*time.Millisecond, Key: i%5 == 0, Data: []byte{byte(i)}}
	}
	return us
}

func TestEdgeRepullsFromNewOrigin(t *testing.T) {
	s1, s2 := newFakeSession(avTracks), newFakeSession(avTracks)
	p := &scriptedPuller{script: sessions(s1, s2)}
	h, _ := edge(t, p, 1)
	k := key("s1")
	h.originClaim(k, "origin-1")

	s, err := h.e.Play(ctxT(t), ports.PlayRequest{Key: k})
	if err != nil {
		t.Fatalf("Play: %v", err)
	}
	r, err := s.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	first := videoUnits(10*time.Second, 10)
	for _, u := range first {
		if !s1.send(u) {
			t.Fatal("first session ended early")
		}
	}
	// The origin dies; its publisher moves to origin-2.
	h.clock.Advance(testDead + time.Second)
	want2 := h.originClaim(k, "origin-2")
	close(s1.units)
	eventually(t, "second Open", func() bool { return len(p.opens()) == 2 })
	if got := p.opens()[1]; got != want2 {
		t.Fatalf("second Open from %+v, want %+v", got, want2)
	}
	second := videoUnits(3*time.Second, 10) // the new origin's own timeline
	for _, u := range second {
		if !s2.send(u) {
			t.Fatal("second session ended early")
		}
	}

	ctx := ctxT(t)
	var got []*media.Unit
	for range len(first) + len(second) {
		u, err := r.Next(ctx)
		if err != nil {
			t.Fatalf("after %d units: %v", len(got), err)
		}
		got = append(got, u)
	}
	for i, u := range got {
		if u.PTS-u.DTS != 66*time.Millisecond {
			t.Fatalf("unit %d: PTS-DTS = %v", i, u.PTS-u.DTS)
		}
		if i > 0 && u.DTS <= got[i-1].DTS {
			t.Fatalf("unit %d: DTS %v after %v", i, u.DTS, got[i-1].DTS)
		}
	}
	if got[0].DTS != 10*time.Second {
		t.Fatalf("first unit DTS %v, want the origin's 10s", got[0].DTS)
	}
	last1 := got[len(first)-1].DTS
	if d := got[len(first)].DTS - last1; d != 40*time.Millisecond {
		t.Fatalf("gap across the switch %v, want 40ms", d)
	}
	if d := got[len(got)-1].DTS - got[len(first)].DTS; d != 9*33*time.Millisecond {
		t.Fatalf("second session spans %v, want its own spacing", d)
	}
	if closed(s.Done()) {
		t.Fatal("stream closed across the switch")
	}
	if again, err := h.e.Play(ctxT(t), ports.PlayRequest{Key: k}); err != nil || again != s {
		t.Fatalf("Play after the switch = %p, %v; want the same stream %p", again, err, s)
	}
	if keys, _ := h.out.attached(); len(keys) != 1 {
		t.Fatalf("outputs attached %d times", len(keys))
	}
}

func TestEdgePullStopsWhenIdle(t *testing.T) {
	sess := newFakeSession(avTracks)
	p := &scriptedPuller{script: sessions(sess)}
	h, viewers := edge(t, p, 1)
	k := key("s1")
	h.originClaim(k, "origin-1")
	s, err := h.e.Play(ctxT(t), ports.PlayRequest{Key: k})
	if err != nil {
		t.Fatalf("Play: %v", err)
	}
	// Watched for three idle timeouts: the pull goes on.
	time.Sleep(3 * h.e.cfg.PullIdleTimeout)
	if closed(s.Done()) || closed(sess.cancelled) {
		t.Fatal("watched pull stopped")
	}
	viewers.Store(0)
	stoppedAt := time.Now()
	waitClosed(t, "idle pull's session cancelled", sess.cancelled)
	waitClosed(t, "idle pull's stream closed", s.Done())
	if d := time.Since(stoppedAt); d < h.e.cfg.PullIdleTimeout/2 {
		t.Fatalf("pull stopped %v after its last viewer left", d)
	}
	eventually(t, "LocalStream gone", func() bool { _, ok := h.e.LocalStream(k); return !ok })
	if live := h.e.Live(); len(live) != 0 {
		t.Fatalf("Live = %+v", live)
	}
	if n := len(p.opens()); n != 1 {
		t.Fatalf("idle pull reopened (%d Open calls)", n)
	}
}

func TestEdgePullEndsWhenTracksChange(t *testing.T) {
	s1 := newFakeSession(avTracks)
	s2 := newFakeSession([]media.Track{{Codec: media.H265, ClockRate: 90000}, {Codec: media.AAC, ClockRate: 48000}})
	p := &scriptedPuller{script: sessions(s1, s2)}
	h, _ := edge(t, p, 1)
	k := key("s1")
	h.originClaim(k, "origin-1")
	s, err := h.e.Play(ctxT(t), ports.PlayRequest{Key: k})
	if err != nil {
		t.Fatalf("Play: %v", err)
	}
	close(s1.units)
	waitClosed(t, "stream closed after the tracks changed", s.Done())
	waitClosed(t, "new session closed", s2.closed)
	if s2.ran.Load() {
		t.Fatal("session with other tracks was run into the old stream")
	}
	eventually(t, "LocalStream gone", func() bool { _, ok := h.e.LocalStream(k); return !ok })
}

func TestEdgePullGivesUpWithoutOrigin(t *testing.T) {
	s1 := newFakeSession(avTracks)
	p := &scriptedPuller{script: sessions(s1)}
	h, _ := edge(t, p, 1)
	k := key("s1")
	h.originClaim(k, "origin-1")
	s, err := h.e.Play(ctxT(t), ports.PlayRequest{Key: k})
	if err != nil {
		t.Fatalf("Play: %v", err)
	}
	h.store.removeClaim(k) // the stream is over everywhere
	ended := time.Now()
	close(s1.units)
	time.Sleep(h.e.cfg.PullRetryFor / 2)
	if closed(s.Done()) {
		t.Fatal("pull gave up before PullRetryFor")
	}
	waitClosed(t, "stream closed after PullRetryFor", s.Done())
	if d := time.Since(ended); d < h.e.cfg.PullRetryFor {
		t.Fatalf("gave up after %v", d)
	}
	if n := len(p.opens()); n != 1 {
		t.Fatalf("Open called %d times without an origin", n)
	}
}

func TestDrainStopsPulls(t *testing.T) {
	sess := newFakeSession(avTracks)
	p := &scriptedPuller{script: sessions(sess)}
	_, vc := constViewers(1)
	h := newHarness(t, withRole(node.RoleEdge), withPuller(p), withViewers("hls", vc))
	stop := h.run(t)
	k := key("s1")
	h.originClaim(k, "origin-1")
	s, err := h.e.Play(ctxT(t), ports.PlayRequest{Key: k})
	if err != nil {
		t.Fatalf("Play: %v", err)
	}
	if err := stop(); err != nil {
		t.Fatalf("Run = %v", err)
	}
	// Run returned: the pull has ended.
	if !closed(sess.cancelled) || !closed(s.Done()) {
		t.Fatal("Run returned before the pull ended")
	}
	if _, err := h.e.Play(ctxT(t), ports.PlayRequest{Key: key("s2")}); !errors.Is(err, ports.ErrOverloaded) {
		t.Fatalf("Play after drain = %v, want ErrOverloaded", err)
	}
}

func TestPullDoesNotReplaceLocalPublisher(t *testing.T) {
	sess := newFakeSession(avTracks)
	opening, release := make(chan struct{}), make(chan struct{})
	p := &scriptedPuller{script: func(_ context.Context, n int, _ origin.Claim) (ports.PullSession, error) {
		close(opening)
		<-release
		return sess, nil
	}}
	_, vc := constViewers(1)
	h := newHarness(t, withPuller(p), withViewers("hls", vc)) // an origin+edge node
	h.run(t)
	k := key("s1")
	h.originClaim(k, "origin-1")

	type result struct {
		s   *media.Stream
		err error
	}
	played := make(chan result, 1)
	ctx := ctxT(t)
	go func() {
		s, err := h.e.Play(ctx, ports.PlayRequest{Key: k})
		played <- result{s, err}
	}()
	waitClosed(t, "Open", opening)
	// While the pull opens, origin-1 goes silent and the publisher comes here.
	h.clock.Advance(testDead + time.Second)
	pub, s := h.start(t, k)
	close(release)

	select {
	case r := <-played:
		if r.err != nil || r.s != s {
			t.Fatalf("Play = %p, %v; want the local publisher's stream %p", r.s, r.err, s)
		}
	case <-time.After(waitFor):
		t.Fatal("Play did not return")
	}
	waitClosed(t, "abandoned session closed", sess.closed)
	if got, ok := h.e.LocalStream(k); !ok || got != s {
		t.Fatal("LocalStream is not the publisher's stream")
	}
	if live := h.e.Live(); len(live) != 1 || live[0].Pulled {
		t.Fatalf("Live = %+v", live)
	}
	if !h.e.Stop(k) {
		t.Fatal("the publisher cannot be stopped")
	}
	waitClosed(t, "publisher kicked", pub.Kicked())
}
