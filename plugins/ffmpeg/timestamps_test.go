package ffmpeg

import (
	"testing"
	"time"
)

func TestTicks(t *testing.T) {
	tests := []struct {
		d     time.Duration
		ticks int64
	}{
		{0, 0},
		{time.Second, 90000},
		{33 * time.Millisecond, 2970},
		{-33 * time.Millisecond, -2970},
		{11111, 1}, // 1/90000 s rounds to one tick
		{5555, 0},
		{-5556, -1},
		{21333333, 1920}, // an AAC frame at 48 kHz
	}
	for _, tt := range tests {
		if got := toTicks(tt.d); got != tt.ticks {
			t.Errorf("toTicks(%v) = %d, want %d", tt.d, got, tt.ticks)
		}
	}
	if got := fromTicks(1920); got != 21333333 {
		t.Errorf("fromTicks(1920) = %v", got)
	}
}

func TestUnwrap(t *testing.T) {
	tests := []struct{ raw, ref, want int64 }{
		{100, 90, 100},
		{90, 100, 90},
		{5, tsWrap - 10, tsWrap + 5},               // forward across the wrap
		{tsWrap - 10, tsWrap + 5, tsWrap - 10},     // backward across it
		{tsWrap - 10, 3*tsWrap + 5, 3*tsWrap - 10}, // many wraps in
		{20, 2*tsWrap + 10, 2*tsWrap + 20},
	}
	for _, tt := range tests {
		if got := unwrap(tt.raw, tt.ref); got != tt.want {
			t.Errorf("unwrap(%d, %d) = %d, want %d", tt.raw, tt.ref, got, tt.want)
		}
	}
}

func TestClockRoundTrip(t *testing.T) {
	var c clock
	origin := 3*time.Hour + 17*time.Millisecond
	if got := c.in(origin); got != tsBase {
		t.Fatalf("origin maps to %d, want %d", got, tsBase)
	}
	for _, d := range []time.Duration{origin - 2*time.Second, origin + 40*time.Millisecond, origin + 27*time.Hour} {
		ticks := c.in(d) % tsWrap // what goes over the wire
		if got := c.out(unwrap(ticks, c.in(d)-1000)); got != d {
			t.Errorf("%v came back as %v", d, got)
		}
	}
}

func FuzzUnwrap(f *testing.F) {
	f.Add(int64(5), int64(tsWrap-10))
	f.Add(int64(0), int64(0))
	f.Add(int64(tsWrap-1), int64(1<<40))
	f.Fuzz(func(t *testing.T, raw, ref int64) {
		raw &= tsWrap - 1
		if ref < 0 || ref > 1<<50 {
			return
		}
		got := unwrap(raw, ref)
		if ((got%tsWrap)+tsWrap)%tsWrap != raw {
			t.Fatalf("unwrap(%d, %d) = %d, not congruent", raw, ref, got)
		}
		if d := got - ref; d < -tsWrap/2 || d >= tsWrap/2 {
			t.Fatalf("unwrap(%d, %d) = %d, %d away from ref", raw, ref, got, d)
		}
	})
}
