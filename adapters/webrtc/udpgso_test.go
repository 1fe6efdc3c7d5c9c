package webrtc

import (
	"net/netip"
	"reflect"
	"testing"
)

// TestGSOPlan: datagrams are grouped by address (addresses in the order
// of their first datagram, each one's datagrams in order) and cut into
// runs of one size ended by at most one shorter datagram.
func TestGSOPlan(t *testing.T) {
	a := netip.MustParseAddrPort("127.0.0.1:1000")
	b := netip.MustParseAddrPort("127.0.0.1:2000")
	type dg struct {
		to   netip.AddrPort
		size int
	}
	rep := func(to netip.AddrPort, size, n int) []dg {
		var out []dg
		for range n {
			out = append(out, dg{to, size})
		}
		return out
	}
	cat := func(parts ...[]dg) []dg {
		var out []dg
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	tests := []struct {
		name  string
		in    []dg
		gso   bool
		order []int32
		msgs  []gsoMsg
	}{
		{"empty", nil, true, []int32{}, []gsoMsg{}},
		{"one", []dg{{a, 100}}, true, []int32{0}, []gsoMsg{{0, 1, 100}}},
		{"a frame", cat(rep(a, 1228, 3), []dg{{a, 500}}), true, []int32{0, 1, 2, 3}, []gsoMsg{{0, 4, 1228}}},
		{"two frames", cat(rep(a, 1228, 2), []dg{{a, 500}}, rep(a, 1228, 2), []dg{{a, 7}}), true,
			[]int32{0, 1, 2, 3, 4, 5}, []gsoMsg{{0, 3, 1228}, {3, 3, 1228}}},
		{"a larger one starts a message", []dg{{a, 100}, {a, 200}, {a, 200}}, true,
			[]int32{0, 1, 2}, []gsoMsg{{0, 1, 100}, {1, 2, 200}}},
		{"interleaved addresses", []dg{{a, 1228}, {b, 1228}, {a, 1228}, {b, 900}, {a, 300}, {b, 1228}}, true,
			[]int32{0, 2, 4, 1, 3, 5}, []gsoMsg{{0, 3, 1228}, {3, 2, 1228}, {5, 1, 1228}}},
		{"runs of addresses alternate", []dg{{a, 100}, {a, 100}, {b, 100}, {a, 100}, {b, 100}, {b, 100}, {a, 100}}, true,
			[]int32{0, 1, 3, 6, 2, 4, 5}, []gsoMsg{{0, 4, 100}, {4, 3, 100}}},
		{"segment limit", rep(a, 100, gsoMaxSegments+1), true,
			seq(gsoMaxSegments + 1), []gsoMsg{{0, gsoMaxSegments, 100}, {gsoMaxSegments, 1, 100}}},
		{"byte limit", rep(a, 1400, 50), true,
			seq(50), []gsoMsg{{0, gsoMaxBytes / 1400, 1400}, {gsoMaxBytes / 1400, 50 - gsoMaxBytes/1400, 1400}}},
		{"empty datagrams stay apart", []dg{{a, 0}, {a, 0}, {a, 10}, {a, 0}}, true,
			[]int32{0, 1, 2, 3}, []gsoMsg{{0, 1, 0}, {1, 1, 0}, {2, 1, 10}, {3, 1, 0}}},
		{"without GSO", []dg{{a, 1228}, {b, 1228}, {a, 1228}}, false,
			[]int32{0, 1, 2}, []gsoMsg{{0, 1, 1228}, {1, 1, 1228}, {2, 1, 1228}}},
	}
	var p gsoPlan // reused, as the sender does
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := &datagrams{}
			for _, x := range tc.in {
				d.add(make([]byte, x.size), x.to)
			}
			p.make(d, tc.gso)
			if !reflect.DeepEqual(append([]int32{}, p.order...), tc.order) {
				t.Errorf("order %v, want %v", p.order, tc.order)
			}
			if !reflect.DeepEqual(append([]gsoMsg{}, p.msgs...), tc.msgs) {
				t.Errorf("messages %v, want %v", p.msgs, tc.msgs)
			}
		})
	}
}

func seq(n int) []int32 {
	out := make([]int32, n)
	for i := range out {
		out[i] = int32(i)
	}
	return out
}
