//go:build e2e

package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestClusterNodeGroups: edges prefer their own group. The origin is in
// group A; the two edges of group B pull the stream from the origin once
// (the first edge carries it for its group, the second pulls from the
// first); an edge of group A pulls from the origin itself.
func TestClusterNodeGroups(t *testing.T) {
	c := newCluster(t)
	origin := c.node("originA", "origin", "127.0.0.2", "--node-group", "A")
	b1 := c.node("edgeB1", "edge", "127.0.0.3", "--node-group", "B")
	b2 := c.node("edgeB2", "edge", "127.0.0.4", "--node-group", "B")

	publish(t, origin.RTMP+"/LiveApp/grp")
	waitStatus(t, b1, "LiveApp", "grp", "broadcasting", 15*time.Second)
	before := metric(t, origin, "colony_relay_sessions_total")

	// One edge after the other: the second finds the first's carrier record.
	for _, e := range []*colonyNode{b1, b2} {
		url := e.HTTP + "/LiveApp/streams/grp.m3u8"
		got := strings.Join(ffprobeStreams(t, url), ",")
		if !strings.Contains(got, "h264 1280x720") || !strings.Contains(got, "aac") {
			t.Fatalf("%s: ffprobe found %q", e.name, got)
		}
		assertContinuous(t, e.name+" video DTS", ffprobeVideoDTS(t, url, 3*time.Second), 45, 0.1)
	}
	if got := metric(t, origin, "colony_relay_sessions_total") - before; got != 1 {
		t.Fatalf("viewers on both edges of group B caused %v relay sessions at the origin, want 1", got)
	}
	if got := metric(t, origin, "colony_relay_sessions_active"); got != 1 {
		t.Fatalf("active relay sessions at the origin = %v, want 1", got)
	}
	if got := metric(t, b1, "colony_relay_sessions_active"); got != 1 {
		t.Fatalf("active relay sessions served by %s (the group's carrier) = %v, want 1 (to %s)", b1.name, got, b2.name)
	}
	if got := metric(t, b2, "colony_relay_sessions_total"); got != 0 {
		t.Fatalf("%s served %v relay sessions, want 0", b2.name, got)
	}
	if !strings.Contains(b2.log.String(), "from=edgeB1") {
		t.Fatalf("%s did not log its pull from edgeB1", b2.name)
	}

	// An edge of the origin's own group pulls from the origin directly.
	a1 := c.node("edgeA1", "edge", "127.0.0.5", "--node-group", "A")
	got := strings.Join(ffprobeStreams(t, a1.HTTP+"/LiveApp/streams/grp.m3u8"), ",")
	if !strings.Contains(got, "h264 1280x720") {
		t.Fatalf("%s: ffprobe found %q", a1.name, got)
	}
	if got := metric(t, origin, "colony_relay_sessions_active"); got != 2 {
		t.Fatalf("active relay sessions at the origin with an edge of its group = %v, want 2", got)
	}
	if got := metric(t, b1, "colony_relay_sessions_total"); got != 1 {
		t.Fatalf("%s served %v relay sessions, want only %s's", b1.name, got, b2.name)
	}

	// Viewers arriving on both edges of B at once: even if both edges
	// pull from the origin first, one pulls from the other within a
	// heartbeat, and the viewers keep playing through the switch.
	publish(t, origin.RTMP+"/LiveApp/grp2")
	waitStatus(t, b1, "LiveApp", "grp2", "broadcasting", 15*time.Second)
	errs := make(chan error, 2)
	for _, e := range []*colonyNode{b1, b2} {
		go func() { errs <- hlsViewer(e.HTTP+"/LiveApp/streams/grp2.m3u8?sessionId=race", 12*time.Second) }()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 10*time.Second, "group B relaying both streams between its edges", func() error {
		if n := metric(t, b1, "colony_relay_sessions_active") + metric(t, b2, "colony_relay_sessions_active"); n != 2 {
			return fmt.Errorf("%v relays served by the edges of B, want 2 (grp and grp2)", n)
		}
		return nil
	})
	yielded := strings.Contains(b1.log.String()+b2.log.String(), "another node of the group carries the stream")
	t.Logf("simultaneous first viewers: both edges pulled from the origin and one then yielded: %v", yielded)
}
