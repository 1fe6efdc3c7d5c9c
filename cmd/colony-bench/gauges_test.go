package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const metricsPage = `# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 42
# HELP colony_webrtc_viewers WebRTC viewers.
# TYPE colony_webrtc_viewers gauge
colony_webrtc_viewers{app="LiveApp"} 3
colony_webrtc_viewers{app="Other"} 4
# TYPE colony_hls_requests_total counter
colony_hls_requests_total 1234
plain_untyped 7.5
`

func TestParseGauges(t *testing.T) {
	for _, tc := range []struct {
		name  string
		page  string
		names []string
		want  map[string]float64
		err   string
	}{
		{name: "gauges summed over labels", page: metricsPage, names: []string{"go_goroutines", "colony_webrtc_viewers"},
			want: map[string]float64{"go_goroutines": 42, "colony_webrtc_viewers": 7}},
		{name: "counter and untyped", page: metricsPage, names: []string{"colony_hls_requests_total", "plain_untyped"},
			want: map[string]float64{"colony_hls_requests_total": 1234, "plain_untyped": 7.5}},
		{name: "a name the page lacks", page: metricsPage, names: []string{"go_gorutines"}, err: `no "go_gorutines"`},
		{name: "a histogram", page: metricsPage + "# TYPE req_seconds histogram\nreq_seconds_bucket{le=\"+Inf\"} 3\nreq_seconds_sum 1.5\nreq_seconds_count 3\n",
			names: []string{"req_seconds"}, err: `"req_seconds" is a histogram`},
		{name: "not a metrics page", page: "<html>hello</html>\n", names: []string{"go_goroutines"}, err: "server metrics"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseGauges(strings.NewReader(tc.page), tc.names)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("%v, %v; want an error with %q", got, err, tc.err)
				}
				return
			}
			if err != nil || len(got) != len(tc.want) {
				t.Fatalf("%v, %v; want %v", got, err, tc.want)
			}
			for n, v := range tc.want {
				if got[n] != v {
					t.Errorf("%s = %v, want %v", n, got[n], v)
				}
			}
		})
	}
}

// settled reads until every gauge is back to its value before, and gives
// up at the settle limit with the last reading.
func TestGaugesSettled(t *testing.T) {
	var left atomic.Int64 // sessions the fake server still holds
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n := left.Load()
		if n > 0 {
			left.Add(-1) // one goes away per reading
		}
		fmt.Fprintf(w, "# TYPE sessions gauge\nsessions %d\n", n)
	}))
	defer srv.Close()
	g := &gaugeReader{url: srv.URL, names: []string{"sessions"}, client: srv.Client(), settle: 5 * time.Second}
	ctx := context.Background()

	left.Store(3)
	got, at, err := g.settled(ctx, map[string]float64{"sessions": 0}, time.Now())
	if err != nil || got["sessions"] != 0 || at < 750*time.Millisecond {
		t.Errorf("%v after %v (%v); want 0 after the fourth reading, 3 × 250 ms", got, at, err)
	}

	g.settle = 600 * time.Millisecond
	left.Store(100)
	got, at, err = g.settled(ctx, map[string]float64{"sessions": 0}, time.Now())
	if err != nil || got["sessions"] == 0 || got["sessions"] > 98 || at < g.settle {
		t.Errorf("%v after %v (%v); want a reading still over 0 at the limit", got, at, err)
	}

	none := httptest.NewServer(http.NotFoundHandler())
	defer none.Close()
	g.url = none.URL
	if _, _, err := g.settled(ctx, nil, time.Now()); err == nil || !strings.Contains(err.Error(), "HTTP 404") {
		t.Errorf("a 404 page: %v", err)
	}
}
