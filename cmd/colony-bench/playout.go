package main

import "time"

// playout models a player's clock: playback starts when the first frame
// is there, then frame pts is shown (pts - first pts) later, unless it
// arrives after that moment, in which case the player rebuffers: it waits
// for the frame and shifts the rest of the timeline by the wait.
type playout struct {
	started bool
	base    time.Time     // wall time at which basePTS is shown
	basePTS time.Duration // presentation time of the first frame
	lastPTS time.Duration
}

// rebufferThreshold is the lateness below which a late frame only shifts
// the timeline without being counted as a rebuffer (one frame at 30 fps).
const rebufferThreshold = 34 * time.Millisecond

// show returns when a frame with presentation time pts that arrived at
// arrival is displayed, and whether the player had to rebuffer for it. A
// jump back in time (a new timeline) restarts the clock.
func (p *playout) show(pts time.Duration, arrival time.Time) (time.Time, bool) {
	if !p.started || pts < p.lastPTS-10*time.Second {
		p.started, p.base, p.basePTS, p.lastPTS = true, arrival, pts, pts
		return arrival, false
	}
	p.lastPTS = max(p.lastPTS, pts)
	due := p.base.Add(pts - p.basePTS)
	if late := arrival.Sub(due); late > 0 {
		p.base = p.base.Add(late)
		return arrival, late > rebufferThreshold
	}
	return due, false
}
