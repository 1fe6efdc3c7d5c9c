package webrtc

import (
	"math"
	"sync/atomic"
	"time"
)

// sendLag measures how late one viewer's player sends the video frames:
// when it takes a live frame to send, the time since the frame entered
// the server (media.Unit.Ingest). Frames without an ingest time (a
// transcoder's renditions) and the cached GOP replayed to a new viewer
// are not measured.
//
// The figure is relative to a floor: the smallest lag any viewer of the
// same source on this node has seen (the source's frameCache holds it;
// a player without video measures nothing). A constant offset, such
// as an edge's relay transit and the clock difference between the origin
// that stamped Ingest and this node, is not this node's lateness. The
// floor is shared so that viewers who join while the node already lags
// (a crowd arriving at once, before the guard's next sample) report that
// lag in full instead of taking it as their floor.
type sendLag struct {
	shared *lagFloor // the source's floor; nil: nothing is measured
	// worst is 1 + the worst lag (ns) since the sampler last took it;
	// 0: no frame measured since.
	worst atomic.Int64
}

// lagFloor is the smallest raw send lag seen, safe for concurrent use.
// The zero value has seen none.
type lagFloor struct {
	v atomic.Int64 // the raw lag in ns with its sign bit flipped; 0: none yet
}

// lower lowers the floor to raw if raw is smaller (or the first), and
// returns the floor.
func (f *lagFloor) lower(raw time.Duration) time.Duration {
	for {
		cur := f.v.Load()
		if cur != 0 {
			if fl := time.Duration(cur ^ math.MinInt64); raw >= fl {
				return fl
			}
		}
		if f.v.CompareAndSwap(cur, int64(raw)^math.MinInt64) {
			return raw
		}
	}
}

// get returns the floor, and false if it has seen none.
func (f *lagFloor) get() (time.Duration, bool) {
	cur := f.v.Load()
	if cur == 0 {
		return 0, false
	}
	return time.Duration(cur ^ math.MinInt64), true
}

// observe records a frame that entered the server at ingest and is sent
// now. It costs an atomic load and a comparison per frame (plus a store
// when the lag grows or the floor falls), and allocates nothing.
func (l *sendLag) observe(ingest, now time.Time) {
	if ingest.IsZero() || l.shared == nil {
		return
	}
	raw := now.Sub(ingest)
	if v := int64(raw-l.shared.lower(raw)) + 1; v > l.worst.Load() {
		l.worst.Store(v)
	}
}

// take returns the worst lag since the previous take, and false when no
// frame was measured since.
func (l *sendLag) take() (time.Duration, bool) {
	v := l.worst.Swap(0)
	if v == 0 {
		return 0, false
	}
	return time.Duration(v - 1), true
}
