package rest

import (
	"encoding/json"
	"testing"

	"github.com/colony-live/colony/core/stream"
)

// fakeViewers counts viewers per stream and protocol.
type fakeViewers map[stream.ID]map[string]int

func (f fakeViewers) ViewerCounts(k stream.Key) map[string]int { return f[k.ID] }

// TestClusterStatistics: broadcast-statistics sums the viewers of every
// node that serves them, whichever node is asked.
func TestClusterStatistics(t *testing.T) {
	p := newPair(t, func(id string, c *Config) {
		if id == "o1" {
			c.Viewers = fakeViewers{"alpha": {"hls": 2, "rtmp": 1}}
		} else {
			c.Viewers = fakeViewers{"alpha": {"hls": 5, "webrtc": 3}}
		}
	})
	want := BroadcastStatistics{TotalHLSWatchersCount: 7, TotalWebRTCWatchersCount: 3, TotalRTMPWatchersCount: 1}
	for _, e := range []*env{p.origin, p.edge} {
		code, _, body := e.get(t, "GET", "/LiveApp/rest/v2/broadcasts/alpha/broadcast-statistics")
		var got BroadcastStatistics
		if err := json.Unmarshal([]byte(body), &got); code != 200 || err != nil || got != want {
			t.Errorf("%s: broadcast-statistics = %d %s, want %+v", e.node.Self().ID, code, body, want)
		}
	}
	// A stream not live: the record's counts (gamma has none).
	if code, _, body := p.edge.get(t, "GET", "/LiveApp/rest/v2/broadcasts/gamma/broadcast-statistics"); code != 200 ||
		body != `{"totalRTMPWatchersCount":0,"totalHLSWatchersCount":0,"totalWebRTCWatchersCount":0,"totalDASHWatchersCount":0}`+"\n" {
		t.Errorf("gamma = %d %s", code, body)
	}
	// An edge that is down counts none; the answer still comes.
	p.edge.srv.Close()
	code, _, body := p.origin.get(t, "GET", "/LiveApp/rest/v2/broadcasts/alpha/broadcast-statistics")
	var got BroadcastStatistics
	if err := json.Unmarshal([]byte(body), &got); code != 200 || err != nil || got.TotalHLSWatchersCount != 2 || got.TotalRTMPWatchersCount != 1 {
		t.Errorf("with the edge down = %d %s", code, body)
	}
}

// TestLocalStatistics: a standalone node counts its viewers now.
func TestLocalStatistics(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Viewers = fakeViewers{"alpha": {"hls": 4}} })
	e.check(t, []apiCase{
		{"GET", "/LiveApp/rest/v2/broadcasts/alpha/broadcast-statistics", "", 200, []string{`"totalHLSWatchersCount":4`, `"totalWebRTCWatchersCount":0`}, nil},
	})
}
