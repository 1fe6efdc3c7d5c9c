package hls

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/colony-live/colony/core/media"
)

// discardWriter is an http.ResponseWriter that keeps only the status and
// the body size, reusing its header map, so that benchmarks measure the
// handler and not a recorder.
type discardWriter struct {
	h      http.Header
	status int
	n      int
}

func (w *discardWriter) Header() http.Header { return w.h }

func (w *discardWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *discardWriter) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	w.n += len(b)
	return len(b), nil
}

func (w *discardWriter) reset() {
	clear(w.h)
	w.status, w.n = 0, 0
}

// benchStream publishes the test clip and returns the server with the
// paths of a media playlist, a complete segment and a part.
func benchStream(b *testing.B) (ts *testServer, mediaPath, segPath, partPath string) {
	b.Helper()
	ts = newTestServer(b, Config{})
	ts.publish(b, mustKey(b, "LiveApp", "bench"), 3*time.Second)
	_, mediaPath = ts.mainPlaylist(b, "bench")
	_, pl, _ := ts.get(b, mediaPath)
	segs := uris(pl)
	segPath = "/LiveApp/streams/" + segs[len(segs)-1]
	m := regexp.MustCompile(`#EXT-X-PART:[^\n]*URI="([^"]+)"`).FindStringSubmatch(pl)
	if m == nil {
		b.Fatalf("no part in\n%s", pl)
	}
	partPath = "/LiveApp/streams/" + m[1]
	return ts, mediaPath, segPath, partPath
}

// BenchmarkServe measures one HLS request of each kind through
// ServeHTTP, in parallel, as many viewers of one stream make them. The
// allocations per request are what the serving cost guard (TestServeAllocs)
// bounds.
func BenchmarkServe(b *testing.B) {
	ts, mediaPath, segPath, partPath := benchStream(b)
	// Parts and segments first: the stream is live, and they leave the
	// window (and the cache) a few seconds after benchStream picked them.
	for _, bc := range []struct{ name, path string }{
		{"part", partPath},
		{"segment", segPath},
		{"playlist", mediaPath},
		{"playlist-query", mediaPath + "?sessionId=abc&token=t0k3n"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, bc.path, nil)
			var bytes atomic.Int64
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				w := &discardWriter{h: make(http.Header)}
				for pb.Next() {
					w.reset()
					ts.srv.ServeHTTP(w, req)
					if w.status != http.StatusOK {
						b.Errorf("%s: status %d", bc.path, w.status)
						return
					}
					bytes.Add(int64(w.n))
				}
			})
			b.SetBytes(bytes.Load() / int64(max(b.N, 1)))
		})
	}
}

// BenchmarkBlockingReload measures LL-HLS viewers all waiting for the
// next part: each iteration is one blocking reload answered when the part
// exists.
func BenchmarkBlockingReload(b *testing.B) {
	ts, mediaPath, _, _ := benchStream(b)
	b.ReportAllocs()
	b.SetParallelism(50)
	b.RunParallel(func(pb *testing.PB) {
		w := &discardWriter{h: make(http.Header)}
		for pb.Next() {
			msn, part := nextPart(b, ts, mediaPath)
			w.reset()
			q := "?_HLS_msn=" + strconv.Itoa(msn) + "&_HLS_part=" + strconv.Itoa(part)
			ts.srv.ServeHTTP(w, httptest.NewRequest(http.MethodGet, mediaPath+q, nil))
			if w.status != http.StatusOK {
				b.Errorf("blocking reload: %d", w.status)
				return
			}
		}
	})
}

// nextPart returns the blocking-reload target after the playlist now served.
func nextPart(b *testing.B, ts *testServer, mediaPath string) (int, int) {
	rec := httptest.NewRecorder()
	ts.srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, mediaPath, nil))
	pl := rec.Body.String()
	segs := uris(pl)
	msn := int(floatOf(b, mediaSeqRe, pl)) + len(segs)
	tail := pl[strings.LastIndex(pl, segs[len(segs)-1]):]
	return msn, strings.Count(tail, "#EXT-X-PART:")
}

// TestServeAllocs guards the serving cost: a media playlist, segment or
// part is answered from shared bytes, with a handful of allocations
// whatever the number of viewers (gohlslib itself made 160 for a
// playlist, 16 to 27 for media).
func TestServeAllocs(t *testing.T) {
	// Not parallel: AllocsPerRun counts every goroutine's allocations.
	// The stream is written once and then left open without new media,
	// so that its muxer's allocations do not land inside the count: fed
	// in real time they did, and on a slow machine under the race
	// detector they came to several per request.
	ts := newTestServer(t, Config{})
	key := mustKey(t, "LiveApp", "allocs")
	c := testClip(t)
	s := media.NewStream(c.tracks, media.StreamConfig{})
	ts.reg.set(key, s)
	ts.srv.Attach(key, s)
	t.Cleanup(s.Close)
	for _, u := range c.units {
		u.Ingest = time.Now()
		s.Write(&u)
	}
	_, mediaPath := ts.mainPlaylist(t, "allocs")
	// Wait for the muxer to have taken in everything written: the
	// playlist stops changing.
	_, pl, _ := ts.get(t, mediaPath)
	for deadline := time.Now().Add(10 * time.Second); ; {
		time.Sleep(200 * time.Millisecond)
		_, again, _ := ts.get(t, mediaPath)
		if again == pl {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("playlist still changing after 10 s:\n%s", again)
		}
		pl = again
	}
	segs := uris(pl)
	part := regexp.MustCompile(`#EXT-X-PART:[^\n]*URI="([^"]+)"`).FindStringSubmatch(pl)
	if part == nil {
		t.Fatalf("no part in\n%s", pl)
	}
	for _, tc := range []struct {
		name, path string
		max        float64
	}{
		{"playlist", mediaPath, 6},
		// A blocking reload for a part already listed: answered at once.
		{"blocking reload", mediaPath + "?_HLS_msn=" + strconv.Itoa(int(floatOf(t, mediaSeqRe, pl))+len(segs)-1) + "&_HLS_part=0", 6},
		{"segment", "/LiveApp/streams/" + segs[len(segs)-1], 4},
		{"part", "/LiveApp/streams/" + part[1], 4},
	} {
		req := httptest.NewRequest(http.MethodGet, tc.path, nil)
		w := &discardWriter{h: make(http.Header)}
		allocs := testing.AllocsPerRun(1000, func() {
			w.reset()
			ts.srv.ServeHTTP(w, req)
		})
		if w.status != http.StatusOK || w.n == 0 {
			t.Fatalf("%s: status %d, %d bytes", tc.name, w.status, w.n)
		}
		t.Logf("%s: %.1f allocations per request", tc.name, allocs)
		if allocs > tc.max {
			t.Errorf("%s: %.0f allocations per request, want at most %.0f", tc.name, allocs, tc.max)
		}
	}
}
