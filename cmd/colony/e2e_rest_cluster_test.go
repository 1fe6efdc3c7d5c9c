//go:build e2e

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

// restStreamInfo is one entry of stream-info.
type restStreamInfo struct {
	StreamID     string `json:"streamId"`
	Name         string `json:"name"`
	VideoWidth   int    `json:"videoWidth"`
	VideoHeight  int    `json:"videoHeight"`
	VideoBitrate int    `json:"videoBitrate"`
	AudioBitrate int    `json:"audioBitrate"`
	VideoCodec   string `json:"videoCodec"`
	AudioCodec   string `json:"audioCodec"`
	Host         string `json:"host"`
}

// restCall sends a request and returns the status, the headers and the body.
func restCall(t *testing.T, method, url string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// restStreamInfos reads stream-info from n; the source's measured bitrate
// is returned apart (it moves between two calls).
func restStreamInfos(t *testing.T, n *colonyNode, id string) ([]restStreamInfo, int, http.Header) {
	t.Helper()
	code, hdr, body := restCall(t, "GET", n.HTTP+"/LiveApp/rest/v2/broadcasts/"+id+"/stream-info")
	var out []restStreamInfo
	if err := json.Unmarshal(body, &out); code != 200 || err != nil {
		t.Fatalf("%s stream-info = %d %s (%v)", n.name, code, body, err)
	}
	bps := 0
	if len(out) > 0 {
		bps, out[0].VideoBitrate = out[0].VideoBitrate, 0
	}
	return out, bps, hdr
}

// restBitrate reads the bitrate field of GET broadcasts/{id} on n.
func restBitrate(t *testing.T, n *colonyNode, id string) int {
	t.Helper()
	var b struct {
		Bitrate int `json:"bitrate"`
	}
	getJSON(t, n.HTTP+"/LiveApp/rest/v2/broadcasts/"+id, &b)
	return b.Bitrate
}

// TestRESTCluster: in a cluster with an ABR ladder, an edge that never
// pulled the stream answers stream-info with the origin's renditions (the
// call is forwarded to the origin), the broadcast shows the bitrate
// measured from the live stream (the clip's ~2.2 Mbit/s) on both nodes,
// broadcast-statistics counts the edge's viewers on both (from the
// registry, where every node writes its viewers per stream with each
// heartbeat), so do the broadcast list and record, stop on the edge disconnects the origin's publisher, and an origin that
// died answers 502 through the edge.
func TestRESTCluster(t *testing.T) {
	dir := abrPluginDir(t)
	c := newCluster(t)
	cfg := c.config() + fmt.Sprintf("transcoder:\n  plugin: ffmpeg\n  plugin_dir: %q\nabr:\n  LiveApp:\n"+
		"    - {height: 360, video_bitrate: 500000, audio_bitrate: 64000}\n"+
		"    - {height: 240, video_bitrate: 300000, audio_bitrate: 48000}\n", dir)
	origin := startNode(t, "rc-origin", nodeOpts{host: "127.0.0.2", config: cfg, args: []string{"--node-id", "rc-origin", "--role", "origin"}})
	edge := c.node("rc-edge", "edge", "127.0.0.3")

	pub := publish(t, origin.RTMP+"/LiveApp/rc1")
	waitStatus(t, edge, "LiveApp", "rc1", "broadcasting", 20*time.Second)

	// The origin lists the source and both renditions once they run.
	var want []restStreamInfo
	eventually(t, 60*time.Second, "stream-info on the origin lists 3 renditions", func() error {
		want, _, _ = restStreamInfos(t, origin, "rc1")
		if len(want) != 3 || want[1].VideoWidth == 0 || want[2].VideoWidth == 0 {
			return fmt.Errorf("stream-info = %+v", want)
		}
		return nil
	})
	for i, w := range []struct {
		id     string
		w, h   int
		vb, ab int
	}{{"rc1", 1280, 720, 0, 0}, {"rc1_360p", 640, 360, 500000, 64000}, {"rc1_240p", 426, 240, 300000, 48000}} {
		got := want[i]
		if got.StreamID != w.id || got.VideoWidth != w.w || got.VideoHeight != w.h || got.VideoBitrate != w.vb || got.AudioBitrate != w.ab || got.VideoCodec != "H264" {
			t.Errorf("origin stream-info[%d] = %+v, want %s %dx%d %d/%d H264", i, got, w.id, w.w, w.h, w.vb, w.ab)
		}
	}
	if want[0].AudioCodec != "AAC" {
		t.Errorf("source audio codec = %q", want[0].AudioCodec)
	}

	// The edge has not pulled rc1, yet answers the same.
	got, _, hdr := restStreamInfos(t, edge, "rc1")
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("stream-info on the edge =\n%+v\nthe origin's =\n%+v", got, want)
	}
	if hdr.Get("X-Colony-Forwarded-To") != "rc-origin" || hdr.Get("X-Served-By") != "rc-edge" {
		t.Errorf("edge answer headers: forwarded to %q, served by %q", hdr.Get("X-Colony-Forwarded-To"), hdr.Get("X-Served-By"))
	}
	_, _, ostats := restCall(t, "GET", origin.HTTP+"/LiveApp/rest/v2/broadcasts/rc1/broadcast-statistics")
	ecode, _, estats := restCall(t, "GET", edge.HTTP+"/LiveApp/rest/v2/broadcasts/rc1/broadcast-statistics")
	if ecode != 200 || string(ostats) != string(estats) {
		t.Errorf("broadcast-statistics: origin %s, edge %d %s", ostats, ecode, estats)
	}
	if n := metric(t, origin, "colony_relay_sessions_total"); n != 0 {
		t.Fatalf("the edge pulled from the origin (%v relay sessions): the test no longer shows forwarding", n)
	}

	// The bitrate measured from the live stream: the clip is ~2.2 Mbit/s
	// (video and audio). The origin measures it; the edge reads the record.
	for _, n := range []*colonyNode{origin, edge} {
		eventually(t, 20*time.Second, n.name+" shows the measured bitrate", func() error {
			if bps := restBitrate(t, n, "rc1"); bps < 1_500_000 || bps > 3_000_000 {
				return fmt.Errorf("bitrate %d bit/s, want about 2.2 Mbit/s", bps)
			}
			return nil
		})
		t.Logf("%s: bitrate %d bit/s", n.name, restBitrate(t, n, "rc1"))
	}
	_, srcBps, _ := restStreamInfos(t, edge, "rc1")
	if srcBps < 1_500_000 || srcBps > 3_000_000 {
		t.Errorf("stream-info source bitrate through the edge = %d", srcBps)
	}
	var list []struct {
		StreamID string `json:"streamId"`
		Bitrate  int    `json:"bitrate"`
	}
	getJSON(t, edge.HTTP+"/LiveApp/rest/v2/broadcasts/list/0/50", &list)
	for _, b := range list {
		if b.StreamID == "rc1" && (b.Bitrate < 1_500_000 || b.Bitrate > 3_000_000) {
			t.Errorf("list on the edge: rc1 bitrate %d", b.Bitrate)
		}
	}

	// Viewers on the edge count in broadcast-statistics, whichever node is asked.
	viewerDone := make(chan error, 1)
	go func() {
		viewerDone <- hlsViewer(edge.HTTP+"/LiveApp/streams/rc1.m3u8?sessionId=rc-viewer", 15*time.Second)
	}()
	for _, n := range []*colonyNode{origin, edge} {
		// The edge pulls rc1, counts the viewer, and writes it into the
		// registry with its next heartbeat (every 5 s).
		eventually(t, 12*time.Second, n.name+" counts the edge's HLS viewer", func() error {
			var st struct {
				HLS int `json:"totalHLSWatchersCount"`
			}
			getJSON(t, n.HTTP+"/LiveApp/rest/v2/broadcasts/rc1/broadcast-statistics", &st)
			if st.HLS != 1 {
				return fmt.Errorf("totalHLSWatchersCount = %d, want 1", st.HLS)
			}
			return nil
		})
	}
	// The broadcast record and list sum the edge's viewer too (the origin
	// has none of its own): the same registry figures, so within one
	// heartbeat interval at most.
	for _, n := range []*colonyNode{origin, edge} {
		eventually(t, 5*time.Second, n.name+" shows the edge's HLS viewer in the record and the list", func() error {
			var rec struct {
				HLS int `json:"hlsViewerCount"`
			}
			getJSON(t, n.HTTP+"/LiveApp/rest/v2/broadcasts/rc1", &rec)
			var list []struct {
				StreamID string `json:"streamId"`
				HLS      int    `json:"hlsViewerCount"`
			}
			getJSON(t, n.HTTP+"/LiveApp/rest/v2/broadcasts/list/0/50", &list)
			listed := -1
			for _, b := range list {
				if b.StreamID == "rc1" {
					listed = b.HLS
				}
			}
			if rec.HLS != 1 || listed != 1 {
				return fmt.Errorf("hlsViewerCount: record %d, list %d; want 1", rec.HLS, listed)
			}
			return nil
		})
	}
	if err := <-viewerDone; err != nil {
		t.Fatalf("HLS viewer on the edge: %v", err)
	}

	// stop on the edge disconnects the origin's publisher.
	code, hdr, body := restCall(t, "POST", edge.HTTP+"/LiveApp/rest/v2/broadcasts/rc1/stop")
	if code != 200 || !strings.Contains(string(body), `"success":true`) || hdr.Get("X-Colony-Forwarded-To") != "rc-origin" {
		t.Fatalf("stop on the edge = %d %s (forwarded to %q)", code, body, hdr.Get("X-Colony-Forwarded-To"))
	}
	eventually(t, 15*time.Second, "the publisher disconnected", func() error {
		// finished, or terminated_unexpectedly when the origin's sweep runs
		// while the publication ends (an engine race, not the API's).
		if st := broadcastStatus(t, edge, "LiveApp", "rc1"); st == "broadcasting" || st == "" {
			return fmt.Errorf("status %q", st)
		}
		if pub.running() {
			return fmt.Errorf("the publisher still runs")
		}
		return nil
	})

	// An origin that died: the edge says so in an Ant Media result, fast.
	publish(t, origin.RTMP+"/LiveApp/rc2")
	waitStatus(t, edge, "LiveApp", "rc2", "broadcasting", 20*time.Second)
	origin.kill()
	start := time.Now()
	code, _, body = restCall(t, "GET", edge.HTTP+"/LiveApp/rest/v2/broadcasts/rc2/stream-info")
	if code != http.StatusBadGateway || !strings.Contains(string(body), `"success":false`) || !strings.Contains(string(body), "rc-origin") {
		t.Fatalf("stream-info through the edge with the origin dead = %d %s", code, body)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the edge took %v to say the origin is unreachable", d)
	}
}
