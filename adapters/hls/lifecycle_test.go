package hls

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/ports"
)

func TestNotFoundAndTraversal(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	ts.publish(t, mustKey(t, "LiveApp", "live1"), 3*time.Second)
	_, mediaPath := ts.mainPlaylist(t, "live1")
	file := strings.TrimPrefix(mediaPath, "/LiveApp/streams/")

	calls := ts.reg.Calls()
	for _, path := range []string{
		"/LiveApp/streams/..%2f..%2fetc%2fpasswd",
		"/LiveApp/streams/..%2F..%2Fetc%2Fpasswd.m3u8",
		"/LiveApp/streams/%2e%2e/%2e%2e/etc/passwd",
		"/LiveApp/streams/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
		"/LiveApp/streams/..%252f..%252fetc%252fpasswd",
		"/LiveApp/streams/../../etc/passwd",
		"/LiveApp/streams/..",
		"/LiveApp/streams/...m3u8",
		"/LiveApp/streams/a..b.m3u8",
		"/LiveApp/streams/....//....//etc/passwd",
		"/LiveApp/streams/..\\..\\etc\\passwd",
		"/LiveApp/streams/%5c..%5cetc%5cpasswd.m3u8",
		"/LiveApp/streams/live1.m3u8/../../../etc/passwd",
		"/LiveApp/streams/live1%00.m3u8",
		"/LiveApp/streams/%6c%69%76%65%31.m3u8", // "live1" encoded: no encoded names at all
		"/LiveApp/streams/" + file + "%2f..%2f..%2fetc%2fpasswd",
		"/LiveApp/streams/" + file + "/..",
		"/LiveApp/streams//" + file,
		"/LiveApp//streams/live1.m3u8",
		"/../LiveApp/streams/live1.m3u8",
		"/LiveApp/streams/",
		"/LiveApp/streams/.m3u8",
		"/LiveApp/streams/live1",
		"/LiveApp/streams/live1.ts",
		"/LiveApp/other/live1.m3u8",
		"/LiveApp/live1.m3u8",
		"/Live%2fApp/streams/live1.m3u8",
		"/LiveApp/streams/" + strings.Repeat("a", 200) + ".m3u8",
		"/",
	} {
		if code, body, _ := ts.get(t, path); code != http.StatusNotFound {
			t.Errorf("GET %s: %d %q, want 404", path, code, body)
		}
	}
	if n := ts.reg.Calls(); n != calls {
		t.Errorf("Play was called %d times for malformed paths", n-calls)
	}

	// An unknown but well-formed stream asks Playback, then answers 404.
	if code, _, hdr := ts.get(t, "/LiveApp/streams/nosuch.m3u8"); code != http.StatusNotFound ||
		hdr.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("unknown stream: %d, CORS %q", code, hdr.Get("Access-Control-Allow-Origin"))
	}
	if n := ts.reg.Calls(); n != calls+1 {
		t.Errorf("Play called %d times for an unknown stream, want 1", n-calls)
	}
	if code, _, _ := ts.do(t, http.MethodPost, "/LiveApp/streams/live1.m3u8", nil); code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d, want 405", code)
	}
}

// TestQueryPropagates: the playlist's query (a token) reaches every URI,
// re-encoded so that it cannot break the playlist syntax.
func TestQueryPropagates(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	ts.publish(t, mustKey(t, "LiveApp", "tok"), 3*time.Second)
	code, main, _ := ts.get(t, `/LiveApp/streams/tok.m3u8?token=a%22b&x=1`)
	if code != http.StatusOK {
		t.Fatalf("main playlist: %d", code)
	}
	u := uris(main)
	if len(u) != 1 || !strings.HasSuffix(u[0], "?token=a%22b&x=1") || strings.Contains(main, `a"b`) {
		t.Fatalf("query not carried safely:\n%s", main)
	}
	code, media, _ := ts.get(t, "/LiveApp/streams/"+u[0])
	if code != http.StatusOK || !strings.Contains(media, `_init.mp4?token=a%22b&x=1"`) {
		t.Fatalf("media playlist %d:\n%s", code, media)
	}
}

// TestUnsupportedTracks: a stream HLS cannot carry (VP8 only) is 404 at
// once, not a wait for segments that never come.
func TestUnsupportedTracks(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	vp8 := media.NewStream([]media.Track{{Codec: media.VP8, ClockRate: 90000}}, media.StreamConfig{})
	t.Cleanup(vp8.Close)
	ts.reg.set(mustKey(t, "LiveApp", "vp8"), vp8)
	start := time.Now()
	if code, _, _ := ts.get(t, "/LiveApp/streams/vp8.m3u8"); code != http.StatusNotFound || time.Since(start) > 2*time.Second {
		t.Errorf("VP8 stream: %d after %v, want 404 at once", code, time.Since(start))
	}
}

func TestStreamEndRemovesMuxerAndRepublishGetsAFreshOne(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{Variant: VariantFMP4})
	key := mustKey(t, "LiveApp", "again")
	_, stop := ts.publish(t, key, 4*time.Second)
	_, oldMedia := ts.mainPlaylist(t, "again")

	stop()
	waitFor(t, "muxer removed", func() bool { return ts.srv.Streams() == 0 })
	if code, _, _ := ts.get(t, "/LiveApp/streams/again.m3u8"); code != http.StatusNotFound {
		t.Errorf("playlist after stream end: %d, want 404", code)
	}
	if code, _, _ := ts.get(t, oldMedia); code != http.StatusNotFound {
		t.Errorf("old media playlist after stream end: %d, want 404", code)
	}

	ts.publish(t, key, 4*time.Second)
	_, newMedia := ts.mainPlaylist(t, "again")
	if newMedia == oldMedia {
		t.Errorf("republished stream reuses the old muxer's files %s", newMedia)
	}
	if code, _, _ := ts.get(t, oldMedia); code != http.StatusNotFound {
		t.Errorf("old media playlist after republish: %d, want 404", code)
	}
	if code, _, _ := ts.get(t, newMedia); code != http.StatusOK {
		t.Errorf("new media playlist: %d", code)
	}
}

func TestPlayErrorsMapToStatuses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err   error
		query string
		want  int
	}{
		{ports.ErrStreamNotFound, "", http.StatusNotFound},
		{ports.ErrUnknownApp, "", http.StatusNotFound},
		{fmt.Errorf("edge: %w", ports.ErrUnauthorized), "", http.StatusUnauthorized},
		{ports.ErrUnauthorized, "?token=bad", http.StatusForbidden},
		{ports.ErrOverloaded, "", http.StatusServiceUnavailable},
		{errors.New("boom"), "", http.StatusInternalServerError},
	} {
		t.Run(tc.err.Error()+tc.query, func(t *testing.T) {
			t.Parallel()
			var got ports.PlayRequest
			play := &fakePlay{play: func(_ context.Context, req ports.PlayRequest) (*media.Stream, error) {
				got = req
				return nil, tc.err
			}}
			srv, err := New(Config{}, play)
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			ts := &testServer{srv: srv}
			ts.http = newHTTPServer(t, srv)
			if code, _, _ := ts.get(t, "/LiveApp/streams/s1.m3u8"+tc.query); code != tc.want {
				t.Errorf("status %d, want %d", code, tc.want)
			}
			if got.Key != mustKey(t, "LiveApp", "s1") || got.Protocol != "hls" || got.RemoteAddr == "" ||
				(tc.query != "" && got.Query.Get("token") != "bad") {
				t.Errorf("PlayRequest %+v", got)
			}
		})
	}
}

// TestEdgePull plays a stream this server does not have: Playback starts
// it (as an edge pulling from its origin would) and the engine attaches it
// a moment later, while the playlist request waits.
func TestEdgePull(t *testing.T) {
	t.Parallel()
	c := testClip(t)
	var srv *Server
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var pulled *media.Stream
	play := &fakePlay{play: func(_ context.Context, req ports.PlayRequest) (*media.Stream, error) {
		mu.Lock()
		defer mu.Unlock()
		if pulled == nil {
			pulled = media.NewStream(c.tracks, media.StreamConfig{})
			s := pulled
			wg.Go(func() {
				time.Sleep(100 * time.Millisecond)
				srv.Attach(req.Key, s) // the engine
				feed(ctx, s, c, 3*time.Second)
			})
		}
		return pulled, nil
	}}
	srv, err := New(Config{}, play)
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{srv: srv, http: newHTTPServer(t, srv)}
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		srv.Close()
		if pulled != nil {
			pulled.Close()
		}
	})
	ts.mainPlaylist(t, "pulled")
	if n := srv.Streams(); n != 1 {
		t.Errorf("Streams = %d after the engine attached the same stream, want 1", n)
	}
}

// TestNotReady: a stream that produces nothing answers 503 after
// ReadyTimeout rather than hanging, and a blocking LL-HLS request on a
// stalled stream is answered 503 too.
func TestNotReadyAndStalled(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{ReadyTimeout: 400 * time.Millisecond})
	c := testClip(t)
	silent := media.NewStream(c.tracks, media.StreamConfig{})
	t.Cleanup(silent.Close)
	ts.reg.set(mustKey(t, "LiveApp", "silent"), silent) // Playback knows it; nobody attached it

	start := time.Now()
	code, _, hdr := ts.get(t, "/LiveApp/streams/silent.m3u8")
	if code != http.StatusServiceUnavailable || hdr.Get("Retry-After") == "" {
		t.Errorf("silent stream: %d (Retry-After %q), want 503", code, hdr.Get("Retry-After"))
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("silent stream answered after %v", d)
	}
	if n := ts.srv.Streams(); n != 1 {
		t.Errorf("Streams = %d: the stream Playback returned was not attached", n)
	}

	// A stream that gets some media and then stalls without ending.
	stalled := media.NewStream(c.tracks, media.StreamConfig{})
	t.Cleanup(stalled.Close)
	key := mustKey(t, "LiveApp", "stalled")
	ts.reg.set(key, stalled)
	ts.srv.Attach(key, stalled)
	for i := range c.units {
		if c.units[i].DTS < 2500*time.Millisecond {
			stalled.Write(&c.units[i])
		}
	}
	_, mediaPath := ts.mainPlaylist(t, "stalled")
	_, pl, _ := ts.get(t, mediaPath)
	next := int(floatOf(t, mediaSeqRe, pl)) + len(uris(pl)) + 1 // a segment that will not come
	start = time.Now()
	// It answers the current playlist once the wait times out, so that
	// players keep polling through a stall (an origin failover).
	code, body, _ := ts.get(t, fmt.Sprintf("%s?_HLS_msn=%d&_HLS_part=0", mediaPath, next))
	if code != http.StatusOK || time.Since(start) > 3*time.Second || !strings.Contains(body, "#EXTM3U") || len(uris(body)) != len(uris(pl)) {
		t.Errorf("blocking request on a stalled stream: %d after %v, want the current playlist:\n%s", code, time.Since(start), body)
	}
}

func TestCORS(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{AllowOrigin: "https://player.example"})
	code, _, hdr := ts.do(t, http.MethodOptions, "/LiveApp/streams/x.m3u8", http.Header{
		"Origin":                         {"https://player.example"},
		"Access-Control-Request-Method":  {"GET"},
		"Access-Control-Request-Headers": {"range"},
	})
	if code != http.StatusNoContent || hdr.Get("Access-Control-Allow-Origin") != "https://player.example" ||
		!strings.Contains(hdr.Get("Access-Control-Allow-Methods"), "GET") ||
		hdr.Get("Access-Control-Allow-Headers") != "range" || hdr.Get("Vary") != "Origin" {
		t.Errorf("preflight: %d %v", code, hdr)
	}
	if ts.reg.Calls() != 0 {
		t.Errorf("a preflight called Play")
	}
}

func TestConcurrentViewersAndClose(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	key := mustKey(t, "LiveApp", "many")
	ts.publish(t, key, 2*time.Second)
	_, mediaPath := ts.mainPlaylist(t, "many")
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			ua := http.Header{"User-Agent": {fmt.Sprintf("player-%d", i)}}
			for range 5 {
				ts.do(t, http.MethodGet, mediaPath, ua)
			}
		})
	}
	wg.Wait()
	if v := ts.srv.Viewers(key); v != 8 && v != 9 { // 8 players, plus the test's own client
		t.Errorf("Viewers = %d, want 8 or 9", v)
	}
	ts.srv.Close()
	if code, _, _ := ts.get(t, "/LiveApp/streams/many.m3u8"); code != http.StatusServiceUnavailable && code != http.StatusNotFound {
		t.Errorf("after Close: %d", code)
	}
	if n := ts.srv.Streams(); n != 0 {
		t.Errorf("Streams = %d after Close", n)
	}
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
