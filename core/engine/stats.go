package engine

import (
	"cmp"
	"slices"

	"github.com/colony-live/colony/core/stream"
)

// PublishedStreams lists the streams published on this node (transcoded
// renditions included, pulled streams not), sorted. The REST API measures
// their bitrate.
func (e *Engine) PublishedStreams() []stream.Key {
	e.mu.Lock()
	out := make([]stream.Key, 0, len(e.live))
	for k, en := range e.live {
		if !en.pulled {
			out = append(out, k)
		}
	}
	e.mu.Unlock()
	slices.SortFunc(out, func(a, b stream.Key) int {
		return cmp.Or(cmp.Compare(a.App, b.App), cmp.Compare(a.ID, b.ID))
	})
	return out
}

// ViewerCounts returns the viewers of key on this node, per protocol
// ("hls", "webrtc", ...), counted now. A standalone node's REST API answers
// with them; in a cluster every node's counts reach the registry with its
// heartbeat instead (node.Load.StreamViewers).
func (e *Engine) ViewerCounts(key stream.Key) map[string]int {
	_, per := e.viewers(key)
	return per
}
