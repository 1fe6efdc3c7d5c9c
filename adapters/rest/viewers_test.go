package rest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/colony-live/colony/core/node"
	"github.com/colony-live/colony/core/stream"
)

// fakeViewers counts viewers per stream and protocol.
type fakeViewers map[stream.ID]map[string]int

func (f fakeViewers) ViewerCounts(k stream.Key) map[string]int { return f[k.ID] }

// heartbeat records id's viewers per stream in the registry at at, as the
// engine's heartbeat does.
func heartbeat(t *testing.T, e *env, id node.ID, at time.Time, vs ...node.StreamViewers) {
	t.Helper()
	if err := e.store.Heartbeat(context.Background(), id, node.Load{StreamViewers: vs}, at); err != nil {
		t.Fatal(err)
	}
}

// clusterViewersPair is a pair whose registry holds: on the origin o1, 2
// HLS and 1 RTMP viewers of alpha; on the edge e1, 5 HLS and 3 WebRTC
// viewers of alpha, 4 HLS viewers of beta and 6 of gamma (not live); on a
// dead node, viewers of alpha that no longer count. The nodes' own
// counters say otherwise: a cluster node does not use them.
func clusterViewersPair(t *testing.T) *pair {
	t.Helper()
	p := newPair(t, func(_ string, c *Config) { c.Viewers = fakeViewers{"alpha": {"hls": 1000}} })
	alpha, beta, gamma := stream.Key{App: "LiveApp", ID: "alpha"}, stream.Key{App: "LiveApp", ID: "beta"}, stream.Key{App: "LiveApp", ID: "gamma"}
	heartbeat(t, p.origin, "o1", now, node.StreamViewers{Stream: alpha, HLS: 2, RTMP: 1})
	heartbeat(t, p.origin, "e1", now.Add(-time.Second),
		node.StreamViewers{Stream: alpha, HLS: 5, WebRTC: 3}, node.StreamViewers{Stream: beta, HLS: 4}, node.StreamViewers{Stream: gamma, HLS: 6})
	if err := p.origin.store.Register(context.Background(), node.Node{ID: "e9", Role: node.RoleEdge, LastSeen: now}); err != nil {
		t.Fatal(err)
	}
	heartbeat(t, p.origin, "e9", now.Add(-node.DefaultDeadAfter-time.Millisecond), node.StreamViewers{Stream: alpha, HLS: 100})
	return p
}

// TestClusterStatistics: on a cluster node, broadcast-statistics sums the
// viewers that the alive nodes wrote into the registry, whichever node is
// asked, without calling any other node.
func TestClusterStatistics(t *testing.T) {
	p := clusterViewersPair(t)
	want := BroadcastStatistics{TotalHLSWatchersCount: 7, TotalWebRTCWatchersCount: 3, TotalRTMPWatchersCount: 1}
	for _, e := range []*env{p.edge, p.origin} {
		if e == p.origin {
			p.edge.srv.Close() // no node is called: the registry answers
		}
		before := e.store.Calls("Nodes")
		code, fwd, body := e.get(t, "GET", "/LiveApp/rest/v2/broadcasts/alpha/broadcast-statistics")
		var got BroadcastStatistics
		if err := json.Unmarshal([]byte(body), &got); code != 200 || err != nil || got != want || fwd != "" {
			t.Errorf("%s: broadcast-statistics = %d %q %s, want %+v answered here", e.node.Self().ID, code, fwd, body, want)
		}
		if n := e.store.Calls("Nodes") - before; n != 1 {
			t.Errorf("%s: %d registry reads, want 1", e.node.Self().ID, n)
		}
	}
	// A stream not live: the record's counts (gamma has none), whatever the registry says.
	if code, _, body := p.origin.get(t, "GET", "/LiveApp/rest/v2/broadcasts/gamma/broadcast-statistics"); code != 200 ||
		body != `{"totalRTMPWatchersCount":0,"totalHLSWatchersCount":0,"totalWebRTCWatchersCount":0,"totalDASHWatchersCount":0}`+"\n" {
		t.Errorf("gamma = %d %s", code, body)
	}
	// The edge dies: once its heartbeat is older than DeadAfter, its viewers no longer count.
	p.origin.clock.Set(now.Add(node.DefaultDeadAfter))
	code, _, body := p.origin.get(t, "GET", "/LiveApp/rest/v2/broadcasts/alpha/broadcast-statistics")
	var got BroadcastStatistics
	if err := json.Unmarshal([]byte(body), &got); code != 200 || err != nil || got != (BroadcastStatistics{TotalHLSWatchersCount: 2, TotalRTMPWatchersCount: 1}) {
		t.Errorf("with the edge dead = %d %s", code, body)
	}
	// The registry cannot be read: 503, not a wrong count.
	p.origin.store.FailOn("Nodes", true)
	if code, _, body := p.origin.get(t, "GET", "/LiveApp/rest/v2/broadcasts/alpha/broadcast-statistics"); code != 503 {
		t.Errorf("with the registry down = %d %s, want 503", code, body)
	}
}

// TestClusterViewerCounts: on a cluster node, the broadcast list and
// record show each live stream's viewers summed over the alive nodes (one
// registry read per call), a stream not live its record's counts.
func TestClusterViewerCounts(t *testing.T) {
	p := clusterViewersPair(t)
	type counts struct {
		ID     string `json:"streamId"`
		HLS    int    `json:"hlsViewerCount"`
		WebRTC int    `json:"webRTCViewerCount"`
		RTMP   int    `json:"rtmpViewerCount"`
	}
	want := map[string]counts{
		"alpha": {"alpha", 7, 3, 1},
		"beta":  {"beta", 4, 0, 0},
		"gamma": {"gamma", 0, 0, 0},
	}
	for _, e := range []*env{p.origin, p.edge} {
		before := e.store.Calls("Nodes")
		code, _, body := e.get(t, "GET", "/LiveApp/rest/v2/broadcasts/list/0/50")
		var list []counts
		if err := json.Unmarshal([]byte(body), &list); code != 200 || err != nil || len(list) != len(want) {
			t.Fatalf("%s: list = %d %s", e.node.Self().ID, code, body)
		}
		for _, got := range list {
			if got != want[got.ID] {
				t.Errorf("%s: list entry %+v, want %+v", e.node.Self().ID, got, want[got.ID])
			}
		}
		if n := e.store.Calls("Nodes") - before; n != 1 {
			t.Errorf("%s: the list read the registry %d times, want 1", e.node.Self().ID, n)
		}
		for id, w := range want {
			code, _, body := e.get(t, "GET", "/LiveApp/rest/v2/broadcasts/"+id)
			var got counts
			if err := json.Unmarshal([]byte(body), &got); code != 200 || err != nil || got != w {
				t.Errorf("%s: GET %s = %d %s, want %+v", e.node.Self().ID, id, code, body, w)
			}
		}
	}
	// A page without live streams does not read the registry.
	before := p.edge.store.Calls("Nodes")
	if code, _, body := p.edge.get(t, "GET", "/LiveApp/rest/v2/broadcasts/gamma"); code != 200 || p.edge.store.Calls("Nodes") != before {
		t.Errorf("GET gamma = %d %s after %d registry reads", code, body, p.edge.store.Calls("Nodes")-before)
	}
	// The registry cannot be read: the record's counts (the origin's own, 3 HLS).
	p.edge.store.FailOn("Nodes", true)
	code, _, body := p.edge.get(t, "GET", "/LiveApp/rest/v2/broadcasts/alpha")
	var got counts
	if err := json.Unmarshal([]byte(body), &got); code != 200 || err != nil || got != (counts{"alpha", 3, 0, 0}) {
		t.Errorf("alpha with the registry down = %d %s", code, body)
	}
}

// TestLocalStatistics: a standalone node counts its viewers now, and
// lists the records' counts.
func TestLocalStatistics(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Viewers = fakeViewers{"alpha": {"hls": 4}} })
	e.check(t, []apiCase{
		{"GET", "/LiveApp/rest/v2/broadcasts/alpha/broadcast-statistics", "", 200, []string{`"totalHLSWatchersCount":4`, `"totalWebRTCWatchersCount":0`}, nil},
		{"GET", "/LiveApp/rest/v2/broadcasts/alpha", "", 200, []string{`"hlsViewerCount":3`}, nil},
	})
	if n := e.store.Calls("Nodes"); n != 0 {
		t.Errorf("a standalone node read the registry %d times", n)
	}
}
