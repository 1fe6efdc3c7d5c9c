package hls

import (
	"net/http"
	"path"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestRoute: Route answers the GETs and HEADs of valid HLS paths itself,
// as ServeHTTP would (CORS headers, counters, 404 for a stream it does not
// have), and hands everything else to next: other paths, other methods,
// and names that are not valid HLS paths even under /{app}/streams/.
func TestRoute(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	ts.publish(t, mustKey(t, "LiveApp", "routed"), 3*time.Second)
	const mainPath = "/LiveApp/streams/routed.m3u8"
	_, mediaPath := ts.mainPlaylist(t, "routed")
	_, pl, _ := ts.get(t, mediaPath)
	segs := uris(pl)
	if len(segs) == 0 {
		t.Fatalf("no segment listed:\n%s", pl)
	}
	var mu sync.Mutex
	var handed []string
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		handed = append(handed, r.Method+" "+r.URL.Path)
		mu.Unlock()
		w.WriteHeader(http.StatusTeapot)
	})
	rs := &testServer{srv: ts.srv, http: newHTTPServer(t, ts.srv.Route(next)), reg: ts.reg}
	cases := []struct {
		method, path string
		code         int  // what the client gets
		next         bool // next answered
	}{
		{"GET", mainPath, http.StatusOK, false},
		{"GET", mediaPath, http.StatusOK, false},
		{"HEAD", mediaPath, http.StatusOK, false},
		{"GET", path.Dir(mediaPath) + "/" + segs[len(segs)-1], http.StatusOK, false},
		{"GET", "/LiveApp/streams/" + strings.Repeat("0", prefixLen) + "_seg1.mp4", http.StatusNotFound, false}, // no such muxer
		{"GET", "/LiveApp/streams/../../etc/passwd", http.StatusTeapot, true},
		{"GET", "/LiveApp/streams/a%2Fb.m3u8", http.StatusTeapot, true},
		{"GET", "/LiveApp/rest/v2/broadcasts/list/0/10", http.StatusTeapot, true},
		{"GET", "/metrics", http.StatusTeapot, true},
		{"POST", mediaPath, http.StatusTeapot, true},
		{"OPTIONS", mediaPath, http.StatusTeapot, true},
	}
	for _, tc := range cases {
		mu.Lock()
		handed = handed[:0]
		mu.Unlock()
		before := ts.srv.Stats().Requests
		code, _, hdr := rs.do(t, tc.method, tc.path, nil)
		mu.Lock()
		gotNext := len(handed) == 1
		mu.Unlock()
		if code != tc.code || gotNext != tc.next {
			t.Errorf("%s %s: %d, handed on %v; want %d, %v", tc.method, tc.path, code, gotNext, tc.code, tc.next)
			continue
		}
		counted := ts.srv.Stats().Requests - before
		if tc.next {
			if counted != 0 {
				t.Errorf("%s %s: handed on but counted as an HLS request", tc.method, tc.path)
			}
			continue
		}
		if counted != 1 {
			t.Errorf("%s %s: %d HLS requests counted, want 1", tc.method, tc.path, counted)
		}
		if hdr.Get("Access-Control-Allow-Origin") != "*" || hdr.Get("Access-Control-Expose-Headers") == "" {
			t.Errorf("%s %s: CORS headers missing: %v", tc.method, tc.path, hdr)
		}
	}
}

// TestTakes: the HTTP lane's pre-check takes GETs and HEADs of
// /{app}/streams/{name} (query allowed) and nothing else; Route still
// judges the name.
func TestTakes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		method, target string
		want           bool
	}{
		{"GET", "/LiveApp/streams/s1.m3u8", true},
		{"HEAD", "/LiveApp/streams/0123456789ab_main_seg3.mp4", true},
		{"GET", "/LiveApp/streams/x_stream.m3u8?_HLS_msn=4&_HLS_part=1", true},
		{"GET", "/LiveApp/streams/..%2fetc", true}, // Route refuses it, and hands it to the mux
		{"POST", "/LiveApp/streams/s1.m3u8", false},
		{"OPTIONS", "/LiveApp/streams/s1.m3u8", false},
		{"GET", "/LiveApp/streams/", false},
		{"GET", "/LiveApp/streams/a/b.m3u8", false},
		{"GET", "/LiveApp/rest/v2/broadcasts/list/0/5", false},
		{"GET", "/LiveApp/websocket", false},
		{"GET", "/rest/v2/version", false},
		{"GET", "/streams/s1.m3u8", false},
		{"GET", "LiveApp/streams/s1.m3u8", false},
		{"GET", "/metrics", false},
	}
	for _, tt := range tests {
		if got := Takes(tt.method, tt.target); got != tt.want {
			t.Errorf("Takes(%s %s) = %v, want %v", tt.method, tt.target, got, tt.want)
		}
	}
}
