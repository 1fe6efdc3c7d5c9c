package main

import (
	"testing"
	"time"
)

func TestPlayout(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	var p playout
	steps := []struct {
		pts, arrival time.Duration
		wantShow     time.Duration
		wantRebuffer bool
	}{
		{10 * time.Second, 0, 0, false},                                                                  // starts at once
		{10*time.Second + 500*time.Millisecond, 0, 500 * time.Millisecond, false},                        // buffered ahead
		{11 * time.Second, 900 * time.Millisecond, time.Second, false},                                   // on time
		{12 * time.Second, 2500 * time.Millisecond, 2500 * time.Millisecond, true},                       // late: rebuffer
		{12*time.Second + 100*time.Millisecond, 2500 * time.Millisecond, 2600 * time.Millisecond, false}, // timeline shifted
		{13*time.Second + 20*time.Millisecond, 3520 * time.Millisecond, 3520 * time.Millisecond, false},  // late by 20 ms: no rebuffer
		{1 * time.Second, 4 * time.Second, 4 * time.Second, false},                                       // new timeline
	}
	for i, s := range steps {
		show, rebuf := p.show(s.pts, at(s.arrival))
		if !show.Equal(at(s.wantShow)) || rebuf != s.wantRebuffer {
			t.Fatalf("step %d: show %v rebuffer %v, want %v %v", i, show.Sub(t0), rebuf, s.wantShow, s.wantRebuffer)
		}
	}
}
