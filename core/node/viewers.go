package node

import (
	"cmp"
	"slices"
	"time"

	"github.com/colony-live/colony/core/stream"
)

// MaxStreamViewers bounds Load.StreamViewers, so that a node's registry
// record stays small (about 16 KB at this bound with 20-character stream
// ids) however many streams it serves: past it, the least watched streams
// are left out and their viewers on that node are not counted.
const MaxStreamViewers = 256

// StreamViewers counts the viewers of one stream on one node, per protocol.
type StreamViewers struct {
	Stream stream.Key
	HLS    int
	WebRTC int
	RTMP   int
}

// Total is the viewers over all protocols.
func (v StreamViewers) Total() int { return v.HLS + v.WebRTC + v.RTMP }

// add adds o's counts to v's.
func (v *StreamViewers) add(o StreamViewers) {
	v.HLS += o.HLS
	v.WebRTC += o.WebRTC
	v.RTMP += o.RTMP
}

// ReportedViewers returns what a heartbeat reports of vs: only the streams
// that have viewers, at most limit of them (the most watched; ties by
// stream), ordered by stream. vs is not modified.
func ReportedViewers(vs []StreamViewers, limit int) []StreamViewers {
	out := make([]StreamViewers, 0, min(len(vs), max(limit, 0)))
	for _, v := range vs {
		if v.Total() > 0 {
			out = append(out, v)
		}
	}
	if len(out) > limit {
		slices.SortFunc(out, func(a, b StreamViewers) int {
			return cmp.Or(cmp.Compare(b.Total(), a.Total()), compareKeys(a.Stream, b.Stream))
		})
		out = out[:max(limit, 0)]
	}
	slices.SortFunc(out, func(a, b StreamViewers) int { return compareKeys(a.Stream, b.Stream) })
	if len(out) == 0 {
		return nil
	}
	return out
}

// ClusterViewers sums, per stream, the viewers that the nodes alive at now
// (see Alive) reported with their last heartbeat. The figures lag the
// real counts by up to one heartbeat period; a dead node counts none.
func ClusterViewers(nodes []Node, now time.Time, deadAfter time.Duration) map[stream.Key]StreamViewers {
	out := make(map[stream.Key]StreamViewers)
	for _, n := range nodes {
		if !n.Alive(now, deadAfter) {
			continue
		}
		for _, v := range n.Load.StreamViewers {
			sum := out[v.Stream]
			sum.Stream = v.Stream
			sum.add(v)
			out[v.Stream] = sum
		}
	}
	return out
}

func compareKeys(a, b stream.Key) int {
	return cmp.Or(cmp.Compare(a.App, b.App), cmp.Compare(a.ID, b.ID))
}
