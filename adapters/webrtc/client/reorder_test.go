package client

import (
	"slices"
	"testing"
	"time"

	"github.com/pion/rtp"
)

func TestReorder(t *testing.T) {
	t0 := time.Unix(1000, 0)
	type arrival struct {
		seq uint16
		at  time.Duration
	}
	for _, c := range []struct {
		name      string
		in        []arrival
		want      []uint16
		wantLost  []int // lost before each emitted packet
		lost, dup int
	}{
		{
			name: "in order", in: []arrival{{10, 0}, {11, 0}, {12, 0}},
			want: []uint16{10, 11, 12}, wantLost: []int{0, 0, 0},
		},
		{
			name: "swapped", in: []arrival{{10, 0}, {12, 0}, {11, 0}, {13, 0}},
			want: []uint16{10, 11, 12, 13}, wantLost: []int{0, 0, 0, 0},
		},
		{
			name: "duplicates and late", in: []arrival{{10, 0}, {11, 0}, {11, 0}, {9, 0}, {12, 0}},
			want: []uint16{10, 11, 12}, wantLost: []int{0, 0, 0}, dup: 2,
		},
		{
			name: "retransmission in time", in: []arrival{{10, 0}, {12, 10}, {13, 20}, {11, 400}},
			want: []uint16{10, 11, 12, 13}, wantLost: []int{0, 0, 0, 0},
		},
		{
			name: "given up after the wait", in: []arrival{{10, 0}, {13, 10}, {14, 20}, {15, 600}, {11, 700}},
			want: []uint16{10, 13, 14, 15}, wantLost: []int{0, 2, 0, 0}, lost: 2, dup: 1,
		},
		{
			name: "wrap around", in: []arrival{{65534, 0}, {0, 0}, {65535, 0}, {1, 0}},
			want: []uint16{65534, 65535, 0, 1}, wantLost: []int{0, 0, 0, 0},
		},
		{
			name: "too many held", in: []arrival{{1, 0}, {3, 0}, {4, 0}, {5, 0}, {6, 0}},
			want: []uint16{1, 3, 4, 5, 6}, wantLost: []int{0, 1, 0, 0, 0}, lost: 1,
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newReorder(500*time.Millisecond, 3)
			var got []uint16
			var lost []int
			for _, a := range c.in {
				r.push(&rtp.Packet{Header: rtp.Header{SequenceNumber: a.seq}}, t0.Add(a.at*time.Millisecond), func(p *rtp.Packet, n int) {
					got = append(got, p.SequenceNumber)
					lost = append(lost, n)
				})
			}
			if !slices.Equal(got, c.want) || !slices.Equal(lost, c.wantLost) || r.lost != c.lost || r.duplicate != c.dup {
				t.Fatalf("emitted %v lost %v (total lost %d, dup %d), want %v lost %v (%d, %d)",
					got, lost, r.lost, r.duplicate, c.want, c.wantLost, c.lost, c.dup)
			}
		})
	}
}
