package main

import (
	"bytes"
	"encoding/binary"
	"testing"
)

func TestStampSEIRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		ns   int64
	}{
		{"zero needs emulation prevention", 0},
		{"now", 1_795_000_000_123_456_789},
		{"00 00 03 pattern", 0x0000_0300_0001_0002},
		{"all ones", -1},
		{"max", 1<<63 - 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			nalu := stampSEI(tc.ns)
			if nalu[0] != naluTypeSEI {
				t.Fatalf("header %#x, want SEI", nalu[0])
			}
			if i := emulationHazard(nalu[1:]); i >= 0 {
				t.Fatalf("start-code emulation at %d in % x", i, nalu)
			}
			got, ok := parseStampSEI(nalu)
			if !ok || got != tc.ns {
				t.Fatalf("parse = %d, %v; want %d", got, ok, tc.ns)
			}
		})
	}
}

// emulationHazard returns where b holds 00 00 0x (x <= 3) that is not an
// emulation prevention byte, or -1.
func emulationHazard(b []byte) int {
	for i := 2; i < len(b); i++ {
		if b[i-2] == 0 && b[i-1] == 0 && b[i] < 3 {
			return i - 2
		}
	}
	return -1
}

func TestEmulationPreventionInserted(t *testing.T) {
	got := addEmulationPrevention([]byte{0, 0, 0, 0, 0, 1, 0, 0, 3, 0, 0, 4})
	want := []byte{0, 0, 3, 0, 0, 3, 0, 1, 0, 0, 3, 3, 0, 0, 4}
	if !bytes.Equal(got, want) {
		t.Fatalf("add = % x, want % x", got, want)
	}
	if back := removeEmulationPrevention(got); !bytes.Equal(back, []byte{0, 0, 0, 0, 0, 1, 0, 0, 3, 0, 0, 4}) {
		t.Fatalf("remove = % x", back)
	}
}

func TestParseStampSEI(t *testing.T) {
	other := func(typ byte, payload []byte) []byte {
		return append([]byte{typ, byte(len(payload))}, payload...)
	}
	ours := func(uuid [16]byte, ns int64) []byte {
		p := append(uuid[:], binary.BigEndian.AppendUint64(nil, uint64(ns))...)
		return other(seiUserDataUnreg, p)
	}
	nal := func(msgs ...[]byte) []byte {
		rbsp := bytes.Join(msgs, nil)
		rbsp = append(rbsp, 0x80)
		return append([]byte{naluTypeSEI}, addEmulationPrevention(rbsp)...)
	}
	var otherUUID [16]byte
	copy(otherUUID[:], "x264 is not ours")
	tests := []struct {
		name   string
		nalu   []byte
		want   int64
		wantOK bool
	}{
		{"alone", nal(ours(stampUUID, 42)), 42, true},
		{"after a recovery point SEI", nal(other(6, []byte{0x84, 0x10}), ours(stampUUID, 7)), 7, true},
		{"after another user data SEI", nal(ours(otherUUID, 1), ours(stampUUID, 9)), 9, true},
		{"other UUID only", nal(ours(otherUUID, 1)), 0, false},
		{"truncated", nal(ours(stampUUID, 5))[:20], 0, false},
		{"not SEI", append([]byte{0x65}, nal(ours(stampUUID, 5))[1:]...), 0, false},
		{"empty", nil, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parseStampSEI(tc.nalu)
			if ok != tc.wantOK || got != tc.want {
				t.Fatalf("parse = %d, %v; want %d, %v", got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func FuzzParseStampSEI(f *testing.F) {
	f.Add(stampSEI(0))
	f.Add(stampSEI(1_795_000_000_000_000_000))
	f.Add([]byte{6, 5, 0xff, 0xff})
	f.Add([]byte{6, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = parseStampSEI(b)
		if len(b) >= 8 {
			ns := int64(binary.BigEndian.Uint64(b))
			if got, ok := parseStampSEI(stampSEI(ns)); !ok || got != ns {
				t.Fatalf("round trip of %d = %d, %v", ns, got, ok)
			}
		}
	})
}
