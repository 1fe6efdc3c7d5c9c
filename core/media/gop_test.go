package media

import (
	"testing"
	"time"
)

// TestGOP: what a cache keeps after a sequence of units.
func TestGOP(t *testing.T) {
	audio := func(n int) []*Unit {
		var us []*Unit
		for i := range n {
			us = append(us, &Unit{Track: 0, PTS: time.Duration(i), Key: true, Data: []byte{1}})
		}
		return us
	}
	second := gop(time.Second, 5)
	for name, tc := range map[string]struct {
		tracks    []Track
		cfg       StreamConfig
		units     []*Unit
		wantFirst *Unit // nil: nothing kept
		wantLen   int
	}{
		"from the last keyframe":   {avTracks, StreamConfig{}, append(gop(0, 30), second...), second[0], 10},
		"no keyframe yet":          {avTracks, StreamConfig{}, gop(0, 30)[2:], nil, 0},
		"past MaxGOPUnits":         {avTracks, StreamConfig{MaxGOPUnits: 20}, gop(0, 30), nil, 0},
		"past MaxGOPBytes":         {avTracks, StreamConfig{MaxGOPBytes: 10}, gop(0, 30), nil, 0},
		"audio only: restarts":     {[]Track{{Codec: AAC, ClockRate: 48000}}, StreamConfig{QueueSize: 8}, audio(10), nil, 2},
		"audio only: short so far": {[]Track{{Codec: AAC, ClockRate: 48000}}, StreamConfig{QueueSize: 8}, audio(3), nil, 3},
	} {
		t.Run(name, func(t *testing.T) {
			g := newGOP(tc.tracks, tc.cfg.withDefaults())
			for _, u := range tc.units {
				g.Add(u)
			}
			got := g.Units()
			if len(got) != tc.wantLen {
				t.Fatalf("%d units kept, want %d", len(got), tc.wantLen)
			}
			if tc.wantFirst != nil && got[0] != tc.wantFirst {
				t.Fatal("the cache does not start at the last keyframe")
			}
			if len(got) > 0 && !g.IsKey(got[0]) {
				t.Fatal("the cache does not start at a unit a reader may start at")
			}
		})
	}
	// After the bounds are passed, the next keyframe starts it again.
	g := newGOP(avTracks, StreamConfig{MaxGOPUnits: 20}.withDefaults())
	for _, u := range append(gop(0, 30), gop(time.Second, 3)...) {
		g.Add(u)
	}
	if len(g.Units()) != 6 {
		t.Fatalf("%d units after the next keyframe, want 6", len(g.Units()))
	}
}
