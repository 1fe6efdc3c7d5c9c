package hls

import (
	"context"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
)

// fakePlay is a ports.Playback whose Play is a func field.
type fakePlay struct {
	mu    sync.Mutex
	calls int
	play  func(ctx context.Context, req ports.PlayRequest) (*media.Stream, error)
}

func (f *fakePlay) Play(ctx context.Context, req ports.PlayRequest) (*media.Stream, error) {
	f.mu.Lock()
	f.calls++
	fn := f.play
	f.mu.Unlock()
	if fn == nil {
		return nil, ports.ErrStreamNotFound
	}
	return fn(ctx, req)
}

func (f *fakePlay) Calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// registry is a fakePlay backed by the streams the test publishes, as an
// origin's Playback would be.
type registry struct {
	fakePlay
	mu      sync.Mutex
	streams map[stream.Key]*media.Stream
}

func newRegistry() *registry {
	r := &registry{streams: make(map[stream.Key]*media.Stream)}
	r.play = func(_ context.Context, req ports.PlayRequest) (*media.Stream, error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		s := r.streams[req.Key]
		if s == nil {
			return nil, ports.ErrStreamNotFound
		}
		select {
		case <-s.Done():
			return nil, ports.ErrStreamNotFound
		default:
			return s, nil
		}
	}
	return r
}

func (r *registry) set(key stream.Key, s *media.Stream) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.streams[key] = s
}

// testServer is a Server behind an httptest.Server.
type testServer struct {
	srv  *Server
	http *httptest.Server
	reg  *registry
}

func newTestServer(t testing.TB, cfg Config) *testServer {
	t.Helper()
	reg := newRegistry()
	srv, err := New(cfg, reg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	hs := newHTTPServer(t, srv)
	t.Cleanup(srv.Close) // runs first: wakes requests blocked in muxers
	return &testServer{srv: srv, http: hs, reg: reg}
}

func newHTTPServer(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	return hs
}

func mustKey(t testing.TB, app, id string) stream.Key {
	t.Helper()
	k, err := stream.ParseKey(app, id)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// publish starts a stream of the test clip as key: burst of media at once,
// then real time. The stream ends at cleanup or when stop is called.
func (ts *testServer) publish(t testing.TB, key stream.Key, burst time.Duration) (s *media.Stream, stop func()) {
	t.Helper()
	c := testClip(t)
	s = media.NewStream(c.tracks, media.StreamConfig{})
	ts.reg.set(key, s)
	ts.srv.Attach(key, s)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { feed(ctx, s, c, burst) })
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			wg.Wait()
			s.Close()
		})
	}
	t.Cleanup(stop)
	return s, stop
}

func (ts *testServer) url(path string) string { return ts.http.URL + path }

// get fetches path and returns the status, body and headers.
func (ts *testServer) get(t testing.TB, path string) (int, string, http.Header) {
	t.Helper()
	return ts.do(t, http.MethodGet, path, nil)
}

func (ts *testServer) do(t testing.TB, method, path string, hdr http.Header) (int, string, http.Header) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, ts.http.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.URL.Opaque = path // sent as is: no cleaning, no re-encoding
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := ts.http.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read: %v", method, path, err)
	}
	return resp.StatusCode, string(b), resp.Header
}

// uris returns the URI lines of a playlist.
func uris(pl string) []string {
	var out []string
	for _, l := range strings.Split(pl, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

func countFiles(t testing.TB, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
