package rtmp

import (
	"math"
	"testing"
	"time"
)

func TestTimeline(t *testing.T) {
	const ms = time.Millisecond
	tests := []struct {
		name string
		in   []uint32
		want []time.Duration
	}{
		{name: "from zero", in: []uint32{0, 33, 66, 100}, want: []time.Duration{0, 33 * ms, 66 * ms, 100 * ms}},
		{name: "rebased", in: []uint32{5000, 5033, 5066}, want: []time.Duration{0, 33 * ms, 66 * ms}},
		{name: "audio slightly behind video", in: []uint32{100, 133, 120, 166}, want: []time.Duration{0, 33 * ms, 20 * ms, 66 * ms}},
		{name: "before the first", in: []uint32{100, 90}, want: []time.Duration{0, -10 * ms}},
		{
			name: "wrap",
			in:   []uint32{math.MaxUint32 - 20, math.MaxUint32 - 5, 10, math.MaxUint32 - 1, 40},
			want: []time.Duration{0, 15 * ms, 31 * ms, 19 * ms, 61 * ms},
		},
		{
			name: "two wraps",
			in:   []uint32{0, 1<<31 - 1, math.MaxUint32 - 1, 1 << 30, 1<<31 + 5, math.MaxUint32, 5},
			want: []time.Duration{0, (1<<31 - 1) * ms, (math.MaxUint32 - 1) * ms, (1<<32 + 1<<30) * ms, (1<<32 + 1<<31 + 5) * ms, (1<<33 - 1) * ms, (1<<33 + 5) * ms},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var tl timeline
			for i, ts := range tc.in {
				if got := tl.at(ts); got != tc.want[i] {
					t.Fatalf("at(%d) [#%d] = %v, want %v", ts, i, got, tc.want[i])
				}
			}
		})
	}
}
