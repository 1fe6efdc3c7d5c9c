package ffmpeg

import (
	"sync"
	"time"
)

// MPEG-TS timestamps are 33-bit counts of a 90 kHz clock. The session maps
// the wire's nanoseconds onto them relative to the first unit it gets
// (origin), shifted by tsBase so that units a little earlier than the first
// (audio, B-frame DTS) stay positive.
const (
	tsBase  = 10 * 90000 // ten seconds
	tsWrap  = int64(1) << 33
	tsClock = 90000
)

// toTicks converts a duration to 90 kHz ticks, rounded to the nearest.
func toTicks(d time.Duration) int64 {
	n := int64(d) * tsClock
	if n >= 0 {
		return (n + int64(time.Second)/2) / int64(time.Second)
	}
	return (n - int64(time.Second)/2) / int64(time.Second)
}

// fromTicks converts 90 kHz ticks to a duration, rounded to the nearest nanosecond.
func fromTicks(t int64) time.Duration {
	n := t * int64(time.Second)
	if n >= 0 {
		return time.Duration((n + tsClock/2) / tsClock)
	}
	return time.Duration((n - tsClock/2) / tsClock)
}

// unwrap returns the timestamp congruent to raw modulo 2^33 that is closest
// to ref, so that timestamps keep growing across the 33-bit wrap (26.5 h).
func unwrap(raw, ref int64) int64 {
	d := (raw - ref) % tsWrap
	if d < 0 {
		d += tsWrap
	}
	if d >= tsWrap/2 {
		d -= tsWrap
	}
	return ref + d
}

// clock maps between the wire's nanoseconds and a session's TS ticks. The
// input goroutine sets it; the output readers read it.
type clock struct {
	mu     sync.Mutex
	origin time.Duration
	set    bool
}

// in converts a source timestamp to TS ticks; the first call sets the origin.
func (c *clock) in(d time.Duration) int64 {
	c.mu.Lock()
	if !c.set {
		c.origin, c.set = d, true
	}
	o := c.origin
	c.mu.Unlock()
	return toTicks(d-o) + tsBase
}

// out converts unwrapped TS ticks back to the source's timeline.
func (c *clock) out(ticks int64) time.Duration {
	c.mu.Lock()
	o := c.origin
	c.mu.Unlock()
	return o + fromTicks(ticks-tsBase)
}
