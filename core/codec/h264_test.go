package codec

import (
	"bytes"
	"errors"
	"testing"
)

// A 320x240 High-profile SPS and its PPS, as x264 writes them.
var (
	testSPS = []byte{0x67, 0x64, 0x00, 0x0d, 0xac, 0xd9, 0x41, 0x41, 0xfa, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0xc0, 0xf1, 0x42, 0x99, 0x60}
	testPPS = []byte{0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0}
)

func TestAVCDecoderConfigRoundTrip(t *testing.T) {
	rec, err := BuildAVCDecoderConfig(testSPS, testPPS)
	if err != nil {
		t.Fatal(err)
	}
	sps, pps, err := ParseAVCDecoderConfig(rec)
	if err != nil || !bytes.Equal(sps, testSPS) || !bytes.Equal(pps, testPPS) {
		t.Fatalf("round trip = %x %x %v", sps, pps, err)
	}
	w, h, err := SPSSize(sps)
	if err != nil || w != 320 || h != 240 {
		t.Fatalf("SPSSize = %dx%d %v", w, h, err)
	}
}

func TestParseAVCDecoderConfigErrors(t *testing.T) {
	good, _ := BuildAVCDecoderConfig(testSPS, testPPS)
	tests := map[string][]byte{
		"empty":          nil,
		"wrong version":  append([]byte{2}, good[1:]...),
		"truncated sps":  good[:10],
		"no pps count":   good[:8+len(testSPS)],
		"truncated pps":  good[:len(good)-2],
		"zero sps count": {1, 0x64, 0, 0x0d, 0xff, 0xe0, 1, 0, 1, 0x68},
	}
	for name, b := range tests {
		if _, _, err := ParseAVCDecoderConfig(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func TestSplitJoinAVCC(t *testing.T) {
	nalus := [][]byte{testSPS, testPPS, {0x65, 1, 2, 3}}
	b := JoinAVCC(nalus)
	got, err := SplitAVCC(nil, b)
	if err != nil || len(got) != 3 || !bytes.Equal(got[2], nalus[2]) {
		t.Fatalf("SplitAVCC = %x, %v", got, err)
	}
	if !ContainsIDR(got) || ContainsIDR(got[:2]) {
		t.Fatal("ContainsIDR wrong")
	}
	if NALUType(got[0]) != NALUSPS || NALUType(nil) != 0 {
		t.Fatal("NALUType wrong")
	}
	for name, bad := range map[string][]byte{
		"short length": {0, 0, 1},
		"overlong":     {0, 0, 0, 9, 1, 2},
	} {
		if _, err := SplitAVCC(nil, bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func FuzzSplitAVCC(f *testing.F) {
	f.Add(JoinAVCC([][]byte{testSPS, testPPS, {0x65, 1}}))
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		nalus, err := SplitAVCC(nil, b)
		if err != nil {
			return
		}
		total := 0
		for _, n := range nalus {
			total += 4 + len(n)
		}
		if total > len(b) {
			t.Fatalf("NAL units cover %d bytes of %d", total, len(b))
		}
	})
}

func FuzzParseAVCDecoderConfig(f *testing.F) {
	good, _ := BuildAVCDecoderConfig(testSPS, testPPS)
	f.Add(good)
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		sps, pps, err := ParseAVCDecoderConfig(b)
		if err == nil && (len(sps) == 0 || len(pps) == 0) {
			t.Fatal("accepted a record without parameter sets")
		}
		if err == nil {
			_, _, _ = SPSSize(sps) // must not panic
		}
	})
}
