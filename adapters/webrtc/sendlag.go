package webrtc

import (
	"sync/atomic"
	"time"
)

// sendLag measures how late one viewer's player sends the video frames:
// when it takes a live frame to send, the time since the frame entered
// the server (media.Unit.Ingest). Frames without an ingest time (a
// transcoder's renditions) and the cached GOP replayed to a new viewer
// are not measured.
//
// The figure is relative to the smallest lag the player has seen (its
// floor): a constant offset, such as an edge's relay transit and the
// clock difference between the origin that stamped Ingest and this node,
// is not this node's lateness. On an ingesting node the floor is a few
// milliseconds; a viewer admitted while the node already lags has a
// higher floor, and under-reports by at most Config.LagLimit.
type sendLag struct {
	// floor is the smallest raw lag seen; set tells it is. Owned by the
	// player's pump goroutine.
	floor time.Duration
	set   bool
	// worst is 1 + the worst lag (ns) since the sampler last took it;
	// 0: no frame measured since.
	worst atomic.Int64
	// overSince is when the viewer's lag went past the shedding bound
	// and stayed there (zero: it is not). Owned by the sampler
	// (Server.checkLag, under Server.mu).
	overSince time.Time
}

// observe records a frame that entered the server at ingest and is sent
// now. It costs a comparison and an atomic load per frame (plus a store
// when the lag grows), and allocates nothing.
func (l *sendLag) observe(ingest, now time.Time) {
	if ingest.IsZero() {
		return
	}
	raw := now.Sub(ingest)
	if !l.set || raw < l.floor {
		l.floor, l.set = raw, true
	}
	if v := int64(raw-l.floor) + 1; v > l.worst.Load() {
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
