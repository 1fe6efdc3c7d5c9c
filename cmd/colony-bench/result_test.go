package main

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestAggregateErrorCounts: failed viewers are counted by their reason,
// numbers aside, so that a report says why viewers were refused.
func TestAggregateErrorCounts(t *testing.T) {
	start := time.Now()
	w := &window{}
	w.begin(start)
	w.close(start.Add(time.Second))
	refused := func(cpu int) error {
		return fmt.Errorf("whep: %w", &statusError{Method: "POST", Code: 503, URL: "http://127.0.0.1:19080/whep/s",
			Reason: fmt.Sprintf("CPU at %d%% of the cores, past the limit of 85%%, with %d WebRTC viewers", cpu, 150+cpu)})
	}
	var stats []*viewerStats
	for i, err := range []error{refused(91), refused(97), refused(88), errConnFailed, nil} {
		s := newViewerStats(w, start)
		if err != nil {
			s.fail(err)
		} else {
			s.frame(start.Add(time.Duration(i)*time.Millisecond), start, auInfo{})
		}
		stats = append(stats, s)
	}
	var r result
	aggregate(&r, stats, start, start.Add(time.Second))
	if r.Failed != 4 {
		t.Fatalf("failed = %d, want 4", r.Failed)
	}
	want := map[string]int{
		"whep: POST http://127.0.0.1:19080/whep/s: HTTP #: CPU at #% of the cores, past the limit of #%, with # WebRTC viewers": 3,
		errConnFailed.Error(): 1,
	}
	if len(r.ErrorCounts) != len(want) {
		t.Fatalf("error counts = %v, want %v", r.ErrorCounts, want)
	}
	for k, n := range want {
		if r.ErrorCounts[k] != n {
			t.Errorf("count of %q = %d, want %d (all: %v)", k, r.ErrorCounts[k], n, r.ErrorCounts)
		}
	}
	var out bytes.Buffer
	if err := writeTable(&out, []result{r}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "3 viewers failed: whep: POST") {
		t.Errorf("table does not give the refusals' count and reason:\n%s", out.String())
	}
}

// TestAggregateErrorKindsBounded: past maxErrorKinds distinct reasons,
// the rest count as "other".
func TestAggregateErrorKindsBounded(t *testing.T) {
	start := time.Now()
	w := &window{}
	w.begin(start)
	w.close(start.Add(time.Second))
	var stats []*viewerStats
	for i := range maxErrorKinds + 5 {
		s := newViewerStats(w, start)
		s.fail(errors.New("reason " + strings.Repeat("x", i)))
		stats = append(stats, s)
	}
	var r result
	aggregate(&r, stats, start, start.Add(time.Second))
	if len(r.ErrorCounts) != maxErrorKinds+1 || r.ErrorCounts["other"] != 5 {
		t.Errorf("error counts = %v, want %d kinds and 5 other", r.ErrorCounts, maxErrorKinds)
	}
}

func TestBodyReason(t *testing.T) {
	for _, c := range []struct{ body, want string }{
		{"CPU at 93% of the cores\nmore", "CPU at 93% of the cores"},
		{"  spaced \r\n", "spaced"},
		{"", ""},
		{strings.Repeat("a", 500), strings.Repeat("a", maxReason)},
		{"bad \xff byte", "bad ? byte"},
	} {
		if got := bodyReason([]byte(c.body)); got != c.want {
			t.Errorf("bodyReason(%q) = %q, want %q", c.body, got, c.want)
		}
	}
}

// TestAggregateTTFFAfterHandshake: the first frame's arrival at the socket
// after the viewer's last handshake datagram is summarized for the viewers
// that know both times; the one that is told by pion's callback stays as it was.
func TestAggregateTTFFAfterHandshake(t *testing.T) {
	start := time.Now()
	w := &window{}
	w.begin(start)
	w.close(start.Add(time.Second))
	ms := func(n int) time.Time { return start.Add(time.Duration(n) * time.Millisecond) }
	tests := []struct {
		handshake, connected time.Time
		arrival, display     time.Time
	}{
		{ms(100), ms(140), ms(112), ms(150)},     // after the handshake: 12
		{ms(200), ms(230), ms(260), ms(300)},     // 60
		{ms(300), ms(310), ms(305), ms(320)},     // 5
		{time.Time{}, ms(140), ms(150), ms(150)}, // no handshake time (sockets without timestamps)
		{ms(100), ms(140), ms(90), ms(150)},      // the frame before the handshake (not possible on one socket)
	}
	var stats []*viewerStats
	for _, tc := range tests {
		s := newViewerStats(w, start)
		s.markConnected(tc.connected, tc.handshake)
		s.frame(tc.display, tc.arrival, auInfo{})
		s.markConnected(ms(900), ms(900)) // only the first connection counts
		stats = append(stats, s)
	}
	var r result
	aggregate(&r, stats, start, start.Add(time.Second))
	if want := (dist{N: 3, P50: 12, P95: 60, Max: 60}); r.TTFFHandshake != want {
		t.Errorf("after the handshake: %+v, want %+v", r.TTFFHandshake, want)
	}
	if want := (dist{N: 5, P50: 10, P95: 70, Max: 70}); r.TTFFConn != want {
		t.Errorf("after the connection: %+v, want %+v", r.TTFFConn, want)
	}
	var out bytes.Buffer
	if err := writeTable(&out, []result{r}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "after hs") || !strings.Contains(out.String(), "12/60") {
		t.Errorf("the table does not show the figure after the handshake as p50/p95:\n%s", out.String())
	}
}

// A churning viewer that left inside the window is neither active nor
// stalled for the time after it left; one that froze before leaving is.
func TestAggregateChurn(t *testing.T) {
	w := &window{}
	t0 := time.Unix(1000, 0)
	w.begin(t0)
	end := t0.Add(10 * time.Second)
	played := func(first, last, left time.Time) *viewerStats {
		s := newViewerStats(w, first.Add(-10*time.Millisecond))
		for at := first; !at.After(last); at = at.Add(time.Second / 30) {
			s.frame(at, at, auInfo{})
		}
		if !left.IsZero() {
			s.leave(left)
		}
		return s
	}
	stats := []*viewerStats{
		played(t0.Add(time.Second), t0.Add(4*time.Second), t0.Add(4*time.Second+30*time.Millisecond)), // left playing
		played(t0.Add(2*time.Second), t0.Add(5*time.Second), t0.Add(7*time.Second)),                   // froze 2 s, then left
		played(t0.Add(5*time.Second), end.Add(-20*time.Millisecond), time.Time{}),                     // still playing
		played(end.Add(100*time.Millisecond), end.Add(200*time.Millisecond), time.Time{}),             // started as the run stopped
	}
	w.close(end)
	for _, s := range stats {
		s.finish(end)
	}
	var r result
	aggregate(&r, stats, t0, end)
	r.churned(step{Mode: modeWHEP, Viewers: 2, Churn: churn{Min: 3 * time.Second, Max: 6 * time.Second}})
	if r.Viewers != 2 || r.Sessions != 4 || r.Connected != 4 || r.Active != 1 || r.Stalls != 1 || r.Churn != "3s-6s" {
		t.Errorf("viewers %d sessions %d connected %d active %d stalls %d churn %q; want 2, 4, 4, 1, 1, 3s-6s",
			r.Viewers, r.Sessions, r.Connected, r.Active, r.Stalls, r.Churn)
	}
	if want := round1(float64(r.Frames) / 10 / 2); r.FPSPerVwr != want {
		t.Errorf("fps per viewer %v, want %v (over the audience of 2)", r.FPSPerVwr, want)
	}
}

// A viewer's first second of frames is its start-up: counted as frames,
// left out of the latency.
func TestStartUpLeftOutOfLatency(t *testing.T) {
	w := &window{}
	t0 := time.Unix(1000, 0)
	w.begin(t0)
	s := newViewerStats(w, t0)
	for i := range 60 { // two seconds at 30 fps, each frame 500 ms old at first, then 2 ms
		at := t0.Add(time.Duration(i) * time.Second / 30)
		age := 2 * time.Millisecond
		if i < 5 {
			age = 500 * time.Millisecond // a cached GOP's frames, sent ahead of the live edge
		}
		s.frame(at, at, auInfo{stamped: true, stamp: at.Add(-age).UnixNano()})
	}
	end := t0.Add(2 * time.Second)
	w.close(end)
	var r result
	aggregate(&r, []*viewerStats{s}, t0, end)
	if r.Frames != 60 || r.Latency.N != 30 || r.Latency.Max != 2 {
		t.Errorf("frames %d, latency %+v; want 60 frames, 30 latencies (the second second) all 2 ms", r.Frames, r.Latency)
	}
}
