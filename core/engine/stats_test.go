package engine

import (
	"slices"
	"testing"

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
