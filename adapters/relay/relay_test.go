package relay

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/core/origin"
	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
)

// fakeStreams is a ports.LocalStreams over a map.
type fakeStreams struct {
	mu sync.Mutex
	m  map[stream.Key]*media.Stream
}

func newFakeStreams() *fakeStreams { return &fakeStreams{m: map[stream.Key]*media.Stream{}} }

func (f *fakeStreams) LocalStream(key stream.Key) (*media.Stream, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.m[key]
	return s, ok
}

// harness is a relay server on loopback and a puller.
type harness struct {
	srv     *Server
	puller  *Puller
	streams *fakeStreams
	cancel  context.CancelFunc
	served  chan error
	claim   origin.Claim
}

func newHarness(t *testing.T, scfg ServerConfig, pcfg PullerConfig) *harness {
	t.Helper()
	h := &harness{streams: newFakeStreams(), served: make(chan error, 1)}
	scfg.Addr, scfg.Secret = "127.0.0.1:0", testSecret
	srv, err := NewServer(scfg, h.streams)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatalf("Listen: %v", err)
	}
	h.srv = srv
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.served <- srv.Serve(ctx) }()

	pcfg.Secret, pcfg.NodeID = testSecret, "edge-1"
	if h.puller, err = NewPuller(pcfg); err != nil {
		cancel()
		t.Fatalf("NewPuller: %v", err)
	}
	h.claim = origin.Claim{Node: "origin-1", RelayAddr: srv.Addr().String()}
	t.Cleanup(func() {
		cancel()
		h.waitServed(t)
		h.puller.Close()
	})
	return h
}

// waitServed waits for Serve to return after cancel; it fails the test on an error or a hang.
func (h *harness) waitServed(t *testing.T) {
	t.Helper()
	select {
	case err := <-h.served:
		if err != nil {
			t.Errorf("Serve = %v, want nil after cancel", err)
		}
		h.served <- nil // let a second wait pass
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
}

// publish makes a stream live on the server.
func (h *harness) publish(key stream.Key, tracks []media.Track, cfg media.StreamConfig) *media.Stream {
	s := media.NewStream(tracks, cfg)
	h.streams.mu.Lock()
	h.streams.m[key] = s
	h.streams.mu.Unlock()
	return s
}

func (h *harness) open(t *testing.T, key stream.Key) ports.PullSession {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sess, err := h.puller.Open(ctx, key, h.claim)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(sess.Close)
	return sess
}

// run runs sess in a goroutine, collecting its units; the channel yields them and Run's error.
type runResult struct {
	units []*media.Unit
	err   error
}

func run(ctx context.Context, sess ports.PullSession) <-chan runResult {
	done := make(chan runResult, 1)
	go func() {
		var r runResult
		r.err = sess.Run(ctx, func(u *media.Unit) { r.units = append(r.units, u) })
		done <- r
	}()
	return done
}

func wait(t *testing.T, done <-chan runResult) runResult {
	t.Helper()
	select {
	case r := <-done:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
		return runResult{}
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// manyUnits is a GOP-structured sequence starting at a video keyframe, every field set.
func manyUnits(n int) []*media.Unit {
	base := time.Date(2025, 6, 1, 12, 0, 0, 123456789, time.UTC)
	units := make([]*media.Unit, n)
	for i := range units {
		u := &media.Unit{Track: i % 2, PTS: time.Duration(i)*20*time.Millisecond + 40*time.Millisecond, DTS: time.Duration(i) * 20 * time.Millisecond,
			Key: i%2 == 1 || i%30 == 0, Data: []byte{byte(i), byte(i >> 8), 0xde, 0xad}, Ingest: base.Add(time.Duration(i) * time.Millisecond)}
		units[i] = u
	}
	return units
}

func checkUnits(t *testing.T, got, want []*media.Unit) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d units, want %d", len(got), len(want))
	}
	for i := range got {
		if !sameUnit(got[i], want[i]) {
			t.Fatalf("unit %d = %+v, want %+v", i, got[i], want[i])
		}
		if got[i] == want[i] || (len(got[i].Data) > 0 && &got[i].Data[0] == &want[i].Data[0]) {
			t.Fatalf("unit %d shares memory with the origin's", i)
		}
	}
}

func TestRelayRoundTrip(t *testing.T) {
	h := newHarness(t, ServerConfig{}, PullerConfig{})
	src := h.publish(testKey, testTracks(), media.StreamConfig{QueueSize: 4096})
	sess := h.open(t, testKey)
	if !reflect.DeepEqual(sess.Tracks(), testTracks()) {
		t.Fatalf("Tracks = %+v, want %+v", sess.Tracks(), testTracks())
	}
	if st := h.srv.Stats(); st.Active != 1 || st.Total != 1 {
		t.Fatalf("Stats while relaying = %+v, want 1 active, 1 total", st)
	}
	other, _ := stream.ParseKey("LiveApp", "other")
	if n, m := h.srv.Viewers(testKey), h.srv.Viewers(other); n != 1 || m != 0 {
		t.Fatalf("Viewers while relaying = %d (other stream %d), want 1 (0)", n, m)
	}
	done := run(context.Background(), sess)
	want := append(testUnits(), manyUnits(1000)...)
	for _, u := range want {
		src.Write(u)
	}
	src.Close()
	r := wait(t, done)
	if r.err != nil {
		t.Fatalf("Run after the stream ended = %v, want nil", r.err)
	}
	checkUnits(t, r.units, want)
	eventually(t, "relay to end", func() bool { return h.srv.Stats().Active == 0 })
	if n := h.srv.Viewers(testKey); n != 0 {
		t.Errorf("Viewers after the relay ended = %d, want 0", n)
	}
	if st := h.srv.Stats(); st.Total != 1 || st.BytesOut < 3*readChunk {
		t.Errorf("Stats after = %+v", st)
	}
	if err := sess.Run(context.Background(), func(*media.Unit) {}); !errors.Is(err, ErrSessionClosed) {
		t.Errorf("second Run = %v, want ErrSessionClosed", err)
	}
}

func TestPullStartsAtCachedGOP(t *testing.T) {
	h := newHarness(t, ServerConfig{}, PullerConfig{})
	src := h.publish(testKey, testTracks(), media.StreamConfig{})
	units := manyUnits(75) // keyframes at 0, 30, 60
	for _, u := range units[:70] {
		src.Write(u)
	}
	sess := h.open(t, testKey)
	done := run(context.Background(), sess)
	for _, u := range units[70:] {
		src.Write(u)
	}
	src.Close()
	r := wait(t, done)
	if r.err != nil {
		t.Fatalf("Run = %v", r.err)
	}
	if len(r.units) == 0 || !r.units[0].Key || r.units[0].Track != 0 {
		t.Fatalf("first unit is not a video keyframe: %+v", r.units)
	}
	checkUnits(t, r.units, units[60:])
}

func TestServerShutdownBreaksPull(t *testing.T) {
	h := newHarness(t, ServerConfig{}, PullerConfig{})
	src := h.publish(testKey, testTracks(), media.StreamConfig{})
	sess := h.open(t, testKey)
	done := run(context.Background(), sess)
	src.Write(testUnits()[0])
	h.cancel()
	h.waitServed(t)
	r := wait(t, done)
	if r.err == nil || !errors.Is(r.err, ErrConnectionLost) {
		t.Fatalf("Run after the origin shut down = %v, want ErrConnectionLost", r.err)
	}
	if h.srv.Stats().Active != 0 {
		t.Errorf("Active = %d after Serve returned", h.srv.Stats().Active)
	}
}

func TestRunCancelled(t *testing.T) {
	h := newHarness(t, ServerConfig{}, PullerConfig{})
	h.publish(testKey, testTracks(), media.StreamConfig{})
	sess := h.open(t, testKey)
	ctx, cancel := context.WithCancel(context.Background())
	done := run(ctx, sess)
	cancel()
	if r := wait(t, done); !errors.Is(r.err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", r.err)
	}
	eventually(t, "server to notice the edge left", func() bool { return h.srv.Stats().Active == 0 })
}

func TestOpenUnauthorized(t *testing.T) {
	tests := []struct {
		name  string
		token func(key stream.Key) (string, error)
	}{
		{"no token", func(stream.Key) (string, error) { return "", nil }},
		{"forged", func(k stream.Key) (string, error) {
			return Sign([]byte("some-other-cluster-secret"), k, "edge-1", time.Now(), 0)
		}},
		{"expired", func(k stream.Key) (string, error) {
			return Sign(testSecret, k, "edge-1", time.Now().Add(-time.Minute), 30*time.Second)
		}},
		{"other stream", func(stream.Key) (string, error) {
			return Sign(testSecret, stream.Key{App: "LiveApp", ID: "other"}, "edge-1", time.Now(), 0)
		}},
	}
	h := newHarness(t, ServerConfig{}, PullerConfig{})
	h.publish(testKey, testTracks(), media.StreamConfig{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.puller.token = tt.token
			sess, err := h.puller.Open(context.Background(), testKey, h.claim)
			if !errors.Is(err, ports.ErrUnauthorized) {
				if sess != nil {
					sess.Close()
				}
				t.Fatalf("Open = %v, want ports.ErrUnauthorized", err)
			}
			if st := h.srv.Stats(); st.Total != 0 || st.Active != 0 {
				t.Errorf("Stats = %+v after a refused pull", st)
			}
		})
	}
}

func TestUnauthorizedResponse(t *testing.T) {
	h := newHarness(t, ServerConfig{}, PullerConfig{})
	h.publish(testKey, testTracks(), media.StreamConfig{})
	tests := []struct {
		name, auth, wantBody string
	}{
		{"missing", "", "no token"},
		{"not bearer", "Basic dXNlcjpwYXNz", "no token"},
		{"forged", "Bearer " + mustSign(t, []byte("some-other-cluster-secret"), testKey, "e", time.Now(), 0), "invalid token"},
		{"expired", "Bearer " + mustSign(t, testSecret, testKey, "e", time.Now().Add(-time.Hour), 0), "token expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, relayURL(h.claim.RelayAddr, testKey), nil)
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			resp, err := h.puller.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), tt.wantBody) || resp.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("got %d %q (WWW-Authenticate %q), want 401 containing %q", resp.StatusCode, body, resp.Header.Get("WWW-Authenticate"), tt.wantBody)
			}
		})
	}
	if st := h.srv.Stats(); st.Total != 0 {
		t.Errorf("Total = %d after refused requests", st.Total)
	}
}

func TestOpenNotFound(t *testing.T) {
	h := newHarness(t, ServerConfig{}, PullerConfig{})
	ended := stream.Key{App: "LiveApp", ID: "ended"}
	h.publish(ended, testTracks(), media.StreamConfig{}).Close()
	for _, key := range []stream.Key{{App: "LiveApp", ID: "nope"}, ended} {
		sess, err := h.puller.Open(context.Background(), key, h.claim)
		if !errors.Is(err, ports.ErrStreamNotFound) {
			if sess != nil {
				sess.Close()
			}
			t.Errorf("Open(%s) = %v, want ports.ErrStreamNotFound", key, err)
		}
	}
	if st := h.srv.Stats(); st.Total != 0 {
		t.Errorf("Total = %d after 404s", st.Total)
	}
}

func TestSlowEdgeDoesNotBlockPublisher(t *testing.T) {
	h := newHarness(t, ServerConfig{WriteTimeout: 300 * time.Millisecond}, PullerConfig{})
	src := h.publish(testKey, testTracks(), media.StreamConfig{})
	sess := h.open(t, testKey) // never Run: the edge reads nothing
	data := make([]byte, 64<<10)
	start := time.Now()
	for i := range 5000 {
		src.Write(&media.Unit{Track: 0, Key: i%30 == 0, DTS: time.Duration(i) * time.Millisecond, Data: data})
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("writing 5000 units took %s with a stalled edge", took)
	}
	if st := src.Stats(); st.Dropped == 0 {
		t.Fatalf("no unit dropped for the stalled edge: %+v", st)
	}
	eventually(t, "server to drop the stalled edge", func() bool { return h.srv.Stats().Active == 0 })
	sess.Close()
	sess.Close() // idempotent
}

func TestHeartbeatKeepsQuietPullAlive(t *testing.T) {
	h := newHarness(t, ServerConfig{Heartbeat: 30 * time.Millisecond}, PullerConfig{ReadTimeout: 200 * time.Millisecond})
	src := h.publish(testKey, testTracks(), media.StreamConfig{})
	sess := h.open(t, testKey)
	done := run(context.Background(), sess)
	time.Sleep(600 * time.Millisecond) // three read timeouts without a unit
	src.Write(testUnits()[0])
	src.Close()
	r := wait(t, done)
	if r.err != nil {
		t.Fatalf("Run = %v, want nil", r.err)
	}
	checkUnits(t, r.units, testUnits()[:1])
}

// silentOrigin answers with a valid header and then sends nothing.
func silentOrigin(t *testing.T) origin.Claim {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", ContentType)
		if _, err := NewEncoder(w).WriteHeader(testTracks()); err != nil {
			return
		}
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	t.Cleanup(ts.Close)
	return origin.Claim{Node: "silent", RelayAddr: ts.Listener.Addr().String()}
}

func TestSilentOriginTimesOut(t *testing.T) {
	claim := silentOrigin(t)
	p, err := NewPuller(PullerConfig{Secret: testSecret, NodeID: "edge-1", ReadTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	sess, err := p.Open(context.Background(), testKey, claim)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	start := time.Now()
	r := wait(t, run(context.Background(), sess))
	if !errors.Is(r.err, ErrIdleTimeout) || time.Since(start) > 2*time.Second {
		t.Fatalf("Run = %v after %s, want ErrIdleTimeout after about 200ms", r.err, time.Since(start))
	}
}

func TestOpenFailures(t *testing.T) {
	// A listener that accepts and never answers.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		for _, c := range conns {
			c.Close()
		}
	})
	deadAddr := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().String()
	}()
	mute := origin.Claim{Node: "mute", RelayAddr: ln.Addr().String()}
	p, err := NewPuller(PullerConfig{Secret: testSecret, NodeID: "edge-1", HeaderTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	shortCtx := func() context.Context {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		t.Cleanup(cancel)
		return ctx
	}
	tests := []struct {
		name  string
		ctx   context.Context
		claim origin.Claim
		want  error // nil: any error
	}{
		{"no relay address", context.Background(), origin.Claim{Node: "o"}, ErrNoRelayAddr},
		{"connection refused", context.Background(), origin.Claim{Node: "o", RelayAddr: deadAddr}, nil},
		{"ctx expires while waiting", shortCtx(), mute, context.DeadlineExceeded},
		{"origin never answers", context.Background(), mute, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			sess, err := p.Open(tt.ctx, testKey, tt.claim)
			if err == nil {
				sess.Close()
				t.Fatal("Open succeeded")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("Open = %v, want %v", err, tt.want)
			}
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("Open took %s", took)
			}
		})
	}
}

func TestServeTwice(t *testing.T) {
	srv, err := NewServer(ServerConfig{Addr: "127.0.0.1:0", Secret: testSecret}, newFakeStreams())
	if err != nil {
		t.Fatal(err)
	}
	if srv.Addr() != nil {
		t.Errorf("Addr before Listen = %v", srv.Addr())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := srv.Serve(ctx); err != nil { // listens, then stops at once
		t.Fatalf("Serve = %v", err)
	}
	if srv.Addr() == nil {
		t.Error("Addr after Serve is nil")
	}
	if err := srv.Listen(); !errors.Is(err, ErrServing) {
		t.Errorf("second Listen = %v", err)
	}
	if err := srv.Serve(context.Background()); !errors.Is(err, ErrServing) {
		t.Errorf("second Serve = %v", err)
	}
}

func TestNewServerRejects(t *testing.T) {
	if _, err := NewServer(ServerConfig{Secret: testSecret}, nil); !errors.Is(err, ErrNilStreams) {
		t.Errorf("nil streams: %v", err)
	}
	if _, err := NewPuller(PullerConfig{Secret: testSecret}); !errors.Is(err, ErrNoNodeID) {
		t.Errorf("no node id: %v", err)
	}
}

// TestManyPulls: each pull is one relay, counted exactly.
func TestManyPulls(t *testing.T) {
	h := newHarness(t, ServerConfig{}, PullerConfig{})
	src := h.publish(testKey, testTracks(), media.StreamConfig{})
	const n = 20
	dones := make([]<-chan runResult, n)
	for i := range dones {
		dones[i] = run(context.Background(), h.open(t, testKey))
	}
	if st := h.srv.Stats(); st.Active != n || st.Total != n {
		t.Fatalf("Stats = %+v, want %d active and total", st, n)
	}
	units := manyUnits(60)
	for _, u := range units {
		src.Write(u)
	}
	src.Close()
	for _, d := range dones {
		r := wait(t, d)
		if r.err != nil {
			t.Fatalf("Run = %v", r.err)
		}
		checkUnits(t, r.units, units)
	}
	eventually(t, "relays to end", func() bool { return h.srv.Stats().Active == 0 })
}
