package rtmp

import "time"

// timeline turns the 32-bit millisecond timestamps of RTMP messages into
// durations since the first message, across the wrap at 2^32 ms (about 49.7
// days). Audio and video share one timeline. A timestamp is read as the
// nearest value to the latest one seen (within ±2^31 ms), so slightly
// out-of-order audio and video stay in place and a wrap counts forward.
type timeline struct {
	started bool
	base    int64  // extended value of the first timestamp
	last    uint32 // latest (largest) timestamp seen
	lastExt int64  // last, extended past wraps
}

// at returns the time of an RTMP timestamp relative to the first one.
func (t *timeline) at(ts uint32) time.Duration {
	if !t.started {
		t.started = true
		t.last, t.lastExt, t.base = ts, int64(ts), int64(ts)
	}
	ext := t.lastExt + int64(int32(ts-t.last))
	if ext > t.lastExt {
		t.last, t.lastExt = ts, ext
	}
	return time.Duration(ext-t.base) * time.Millisecond
}
