package main

import (
	"encoding/binary"
	"testing"
)

func avcc(nalus ...[]byte) []byte {
	var b []byte
	for _, n := range nalus {
		b = binary.BigEndian.AppendUint32(b, uint32(len(n)))
		b = append(b, n...)
	}
	return b
}

func annexB(nalus ...[]byte) []byte {
	var b []byte
	for i, n := range nalus {
		if i%2 == 0 {
			b = append(b, 0, 0, 0, 1)
		} else {
			b = append(b, 0, 0, 1)
		}
		b = append(b, n...)
	}
	return b
}

var (
	testSPS   = []byte{0x67, 0x64, 0x00, 0x1f, 0xac}
	testPPS   = []byte{0x68, 0xee, 0x3c, 0x80}
	testIDR   = []byte{0x65, 0x88, 0x84, 0x00, 0x00, 0x03, 0x01}
	testSlice = []byte{0x41, 0x9a, 0x02}
	testAUD   = []byte{0x09, 0xf0}
	x264SEI   = []byte{0x06, 0x05, 0x02, 0xaa, 0xbb, 0x80}
)

func TestStampAVCC(t *testing.T) {
	tests := []struct {
		name    string
		in      [][]byte
		wantPos int // index of the stamp among the output NAL units
		key     bool
	}{
		{"IDR with parameter sets and SEI", [][]byte{testAUD, testSPS, testPPS, x264SEI, testIDR}, 4, true},
		{"P slice alone", [][]byte{testSlice}, 0, false},
		{"no slice", [][]byte{testSPS}, 1, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := stampAVCC(avcc(tc.in...), 1234)
			var nalus [][]byte
			for b := out; len(b) >= 4; {
				n := binary.BigEndian.Uint32(b)
				nalus = append(nalus, b[4:4+n])
				b = b[4+n:]
			}
			if len(nalus) != len(tc.in)+1 {
				t.Fatalf("%d NAL units, want %d", len(nalus), len(tc.in)+1)
			}
			if ns, ok := parseStampSEI(nalus[tc.wantPos]); !ok || ns != 1234 {
				t.Fatalf("NAL %d is not the stamp: % x", tc.wantPos, nalus[tc.wantPos])
			}
			for _, info := range []auInfo{inspectAVCC(out), inspectNALUs(nalus), inspectAnnexB(annexB(nalus...))} {
				if !info.stamped || info.stamp != 1234 || info.key != tc.key {
					t.Fatalf("inspect = %+v, want stamp 1234, key %v", info, tc.key)
				}
			}
		})
	}
}

func TestSplitAnnexB(t *testing.T) {
	got := splitAnnexB(annexB(testSPS, testPPS, testIDR))
	want := [][]byte{testSPS, testPPS, testIDR}
	if len(got) != len(want) {
		t.Fatalf("%d units, want %d", len(got), len(want))
	}
	for i := range want {
		if string(got[i]) != string(want[i]) {
			t.Fatalf("unit %d = % x, want % x", i, got[i], want[i])
		}
	}
	if n := len(splitAnnexB([]byte{1, 2, 3})); n != 0 {
		t.Fatalf("no start code: %d units", n)
	}
}

func FuzzInspectAVCC(f *testing.F) {
	f.Add(stampAVCC(avcc(testSPS, testIDR), 5))
	f.Add([]byte{0, 0, 0, 9, 6})
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = inspectAVCC(b)
		_ = inspectAnnexB(b)
		_ = stampAVCC(b, 1)
	})
}
