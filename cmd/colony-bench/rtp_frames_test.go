package main

import (
	"slices"
	"testing"
	"time"
)

// rtpFrame is a test frame cut into packets: the first carries the stamp
// (and SPS for a keyframe), then FU-A fragments of a slice.
func rtpFrame(key bool, stamp int64, fragments int) [][]byte {
	var first []byte
	if key {
		first = []byte{rtpSTAPA}
		for _, n := range [][]byte{testSPS, testPPS, stampSEI(stamp)} {
			first = append(first, byte(len(n)>>8), byte(len(n)))
			first = append(first, n...)
		}
	} else {
		first = stampSEI(stamp)
	}
	pkts := [][]byte{first}
	typ := byte(1)
	if key {
		typ = naluTypeIDR
	}
	for i := range fragments {
		h := typ
		if i == 0 {
			h |= 0x80
		}
		if i == fragments-1 {
			h |= 0x40
		}
		pkts = append(pkts, []byte{0x60 | rtpFUA, h, 0xaa})
	}
	return pkts
}

type testPkt struct {
	seq     uint16
	marker  bool
	payload []byte
}

// stream numbers the packets of frames from seq, marker on each frame's last.
func stream(seq uint16, frames ...[][]byte) []testPkt {
	var out []testPkt
	for _, f := range frames {
		for i, p := range f {
			out = append(out, testPkt{seq, i == len(f)-1, p})
			seq++
		}
	}
	return out
}

func TestFrameAssembler(t *testing.T) {
	key0, p1, p2, key3 := rtpFrame(true, 100, 3), rtpFrame(false, 101, 2), rtpFrame(false, 102, 2), rtpFrame(true, 103, 3)
	all := stream(65530, key0, p1, p2, key3) // wraps around 65535
	reorder := func(idx ...int) []testPkt {
		var out []testPkt
		for _, i := range idx {
			out = append(out, all[i])
		}
		return out
	}
	tests := []struct {
		name       string
		pkts       []testPkt
		lateAt     int // index of the packet that arrives after nackWait (-1: none)
		noSock     int // index of the packet whose socket arrival is not known (-1: none)
		wantStamps []int64
		wantLast   []int // index of each frame's last packet handed over
		wantKeyReq bool
	}{
		{"in order", all, -1, -1, []int64{100, 101, 102, 103}, []int{3, 6, 9, 13}, false},
		{"reordered within a frame", reorder(0, 2, 1, 3, 4, 6, 5, 7, 8, 9, 10, 11, 12, 13), -1, -1,
			[]int64{100, 101, 102, 103}, []int{3, 6, 9, 13}, false},
		{"retransmission fills the gap", reorder(0, 1, 2, 3, 5, 6, 7, 4, 8, 9, 10, 11, 12, 13), -1, -1,
			[]int64{100, 101, 102, 103}, []int{3, 7, 9, 13}, false},
		{"retransmission with no socket time: frame arrives when handed over", reorder(0, 1, 2, 3, 5, 6, 7, 4, 8, 9, 10, 11, 12, 13), -1, 7,
			[]int64{100, 101, 102, 103}, []int{3, 7, 9, 13}, false},
		{"first packet's socket time not known: the last packet's counts", all, -1, 4,
			[]int64{100, 101, 102, 103}, []int{3, 6, 9, 13}, false},
		{"lost packet: frames wait for the next keyframe", reorder(0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13), 7, -1,
			[]int64{100, 103}, []int{3, 12}, true},
		{"joins mid-frame: starts at the next keyframe", reorder(2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13), -1, -1,
			[]int64{103}, []int{11}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newFrameAssembler(nackWait)
			now := time.Unix(0, 0)
			var read, sock []time.Time // of each packet
			var got []assembled
			keyReq := false
			for i, p := range tc.pkts {
				now = now.Add(time.Millisecond)
				if i == tc.lateAt {
					now = now.Add(nackWait + time.Millisecond)
				}
				// The socket saw each packet a little earlier, the later
				// ones by more (a queue building up in the RTP stack).
				s := now.Add(-time.Duration(100+i) * time.Microsecond)
				if i == tc.noSock {
					s = time.Time{}
				}
				read, sock = append(read, now), append(sock, s)
				out, need := a.push(p.seq, p.marker, p.payload, now, s, nil)
				keyReq = keyReq || need
				got = append(got, out...)
			}
			var stamps []int64
			for _, f := range got {
				stamps = append(stamps, f.info.stamp)
				if f.info.key != (f.info.stamp == 100 || f.info.stamp == 103) {
					t.Fatalf("frame %d key = %v", f.info.stamp, f.info.key)
				}
			}
			if !slices.Equal(stamps, tc.wantStamps) || keyReq != tc.wantKeyReq {
				t.Fatalf("frames %v, key request %v; want %v, %v", stamps, keyReq, tc.wantStamps, tc.wantKeyReq)
			}
			for i, f := range got {
				last := tc.wantLast[i]
				wantArrival := sock[last]
				if last == tc.noSock {
					wantArrival = read[last] // not another packet's socket time
				}
				if !f.display.Equal(read[last]) || !f.arrival.Equal(wantArrival) {
					t.Errorf("frame %d: display %v arrival %v, want %v %v (packet %d)",
						f.info.stamp, f.display.UnixMicro(), f.arrival.UnixMicro(),
						read[last].UnixMicro(), wantArrival.UnixMicro(), last)
				}
			}
		})
	}
}

func TestSeqTracker(t *testing.T) {
	tests := []struct {
		name         string
		seqs         []uint16
		inWindow     []bool // nil: all in
		margin       int64
		wantExpected int64
		wantLost     int64
		wantLate     int64
	}{
		{"no loss across wrap", []uint16{65534, 65535, 0, 1, 2}, nil, 0, 5, 0, 0},
		{"one lost", []uint16{10, 11, 13, 14}, nil, 0, 5, 1, 0},
		{"retransmitted late", []uint16{10, 11, 13, 14, 12, 12}, nil, 0, 5, 0, 1},
		{"duplicates", []uint16{10, 10, 11, 11}, nil, 0, 2, 0, 0},
		{"margin leaves out the newest", []uint16{10, 11, 13, 14, 16}, nil, 2, 5, 1, 0},
		{"before the window", []uint16{1, 2, 5, 6}, []bool{false, false, true, true}, 0, 2, 0, 0},
		{"after the window: only late ones", []uint16{5, 7, 6, 8, 9}, []bool{true, true, false, false, false}, 0, 3, 0, 1},
		{"old packet before the base", []uint16{100, 101, 50}, nil, 0, 2, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var tr seqTracker
			for i, s := range tc.seqs {
				in := tc.inWindow == nil || tc.inWindow[i]
				tr.add(s, in)
			}
			exp, lost := tr.counts(tc.margin)
			if exp != tc.wantExpected || lost != tc.wantLost || tr.late != tc.wantLate {
				t.Fatalf("expected %d lost %d late %d, want %d %d %d", exp, lost, tr.late, tc.wantExpected, tc.wantLost, tc.wantLate)
			}
		})
	}
}

func TestInspectRTPPayload(t *testing.T) {
	key := rtpFrame(true, 77, 2)
	if a := inspectRTPPayload(key[0]); !a.stamped || a.stamp != 77 || !startsWithSPS(key[0]) {
		t.Fatalf("STAP-A: %+v", a)
	}
	if a := inspectRTPPayload(key[1]); !a.key || a.stamped {
		t.Fatalf("FU-A start of IDR: %+v", a)
	}
	if a := inspectRTPPayload(key[2]); a.key {
		t.Fatalf("FU-A end: %+v", a)
	}
	if a := inspectRTPPayload(stampSEI(5)); !a.stamped || a.stamp != 5 || startsWithSPS(stampSEI(5)) {
		t.Fatalf("single SEI: %+v", a)
	}
}

func FuzzFrameAssembler(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5})
	f.Fuzz(func(t *testing.T, b []byte) {
		a := newFrameAssembler(10 * time.Millisecond)
		now := time.Unix(0, 0)
		for i := 0; i+2 < len(b); i += 3 {
			now = now.Add(time.Duration(b[i+2]) * time.Millisecond)
			seq := uint16(b[i])<<8 | uint16(b[i+1])
			var sock time.Time
			if b[i]&1 == 1 {
				sock = now.Add(-time.Duration(b[i+1]) * time.Microsecond)
			}
			out, _ := a.push(seq, b[i+2]&1 == 1, b[i:], now, sock, nil)
			for _, f := range out {
				if f.arrival.After(f.display) || f.display.After(now) {
					t.Fatalf("frame arrived %v, displayed %v, at %v", f.arrival, f.display, now)
				}
			}
			_ = inspectRTPPayload(b[i:])
		}
	})
}
