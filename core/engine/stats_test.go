package engine

import (
	"reflect"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/colony-live/colony/core/node"
	"github.com/colony-live/colony/core/stream"
)

func TestPublishedStreamsAndViewerCounts(t *testing.T) {
	h := newHarness(t, withViewers("hls", viewersFunc(func(k stream.Key) int {
		if k == key("b") {
			return 3
		}
		return 0
	})))
	if got := h.e.PublishedStreams(); len(got) != 0 {
		t.Fatalf("PublishedStreams before any publish = %v", got)
	}
	h.start(t, key("b"))
	pub := h.publish(t, key("a")) // published, tracks not known yet: listed too
	t.Cleanup(func() { pub.End(nil) })
	if got, want := h.e.PublishedStreams(), []stream.Key{key("a"), key("b")}; !slices.Equal(got, want) {
		t.Fatalf("PublishedStreams = %v, want %v", got, want)
	}
	if got := h.e.ViewerCounts(key("b")); got["hls"] != 3 || len(got) != 1 {
		t.Fatalf("ViewerCounts(b) = %v", got)
	}
	pub.End(nil)
	if got := h.e.PublishedStreams(); !slices.Equal(got, []stream.Key{key("b")}) {
		t.Fatalf("PublishedStreams after a's end = %v", got)
	}
}

// TestHeartbeatReportsViewersPerStream: each heartbeat writes this node's
// viewers per stream and protocol into its registry record (streams
// without viewers left out), and follows the counts from beat to beat.
func TestHeartbeatReportsViewersPerStream(t *testing.T) {
	var hlsA, webrtcB atomic.Int64
	hlsA.Store(3)
	counter := func(k stream.Key, n *atomic.Int64) viewersFunc {
		return func(got stream.Key) int {
			if got == k {
				return int(n.Load())
			}
			return 0
		}
	}
	_, rtmp := constViewers(0)
	h := newHarness(t, withViewers("hls", counter(key("a"), &hlsA)), withViewers("webrtc", counter(key("b"), &webrtcB)),
		withViewers("rtmp", rtmp))
	h.start(t, key("a"))
	h.start(t, key("b"))
	h.start(t, key("c"))
	h.run(t)
	reported := func(want ...node.StreamViewers) func() bool {
		return func() bool {
			n, ok := h.store.node(selfID)
			return ok && reflect.DeepEqual(n.Load.StreamViewers, want)
		}
	}
	eventually(t, "a's HLS viewers reported", reported(node.StreamViewers{Stream: key("a"), HLS: 3}))
	hlsA.Store(0)
	webrtcB.Store(2)
	eventually(t, "b's WebRTC viewers reported, a left out", reported(node.StreamViewers{Stream: key("b"), WebRTC: 2}))
	hlsA.Store(1)
	eventually(t, "both reported, in stream order", reported(node.StreamViewers{Stream: key("a"), HLS: 1}, node.StreamViewers{Stream: key("b"), WebRTC: 2}))
	n, _ := h.store.node(selfID)
	if n.Load.Viewers != 3 || n.Load.Streams != 3 {
		t.Fatalf("load counts %d viewers on %d streams, want 3 on 3", n.Load.Viewers, n.Load.Streams)
	}
}
