package webrtc

import (
	"bytes"
	"testing"
	"time"

	"github.com/colony-live/colony/core/codec"
)

func TestH264In(t *testing.T) {
	h := &h264In{}
	steps := []struct {
		name string
		in   [][]byte
		want [][]byte // nil: no unit
		key  bool
	}{
		{"parameter sets alone are held", [][]byte{testSPS, testPPS}, nil, false},
		{"then join the IDR", [][]byte{testIDR}, [][]byte{testSPS, testPPS, testIDR}, true},
		{"delta frame, AUD dropped", [][]byte{testAUD, testP}, [][]byte{testP}, false},
		{"IDR without SPS/PPS gets them", [][]byte{testIDR}, [][]byte{testSPS, testPPS, testIDR}, true},
		{"IDR with them keeps its own", [][]byte{testSPS, testPPS, testIDR}, [][]byte{testSPS, testPPS, testIDR}, true},
	}
	for _, s := range steps {
		data, key, ok := h.unit(codec.JoinAVCC(s.in))
		if s.want == nil {
			if ok {
				t.Fatalf("%s: got a unit", s.name)
			}
			continue
		}
		if !ok || key != s.key || !bytes.Equal(data, codec.JoinAVCC(s.want)) {
			t.Fatalf("%s: got % x key %v ok %v", s.name, data, key, ok)
		}
	}
	if !bytes.Equal(h.sps, testSPS) || !bytes.Equal(h.pps, testPPS) {
		t.Fatal("parameter sets not kept")
	}
	if _, _, ok := h.unit([]byte{0, 0, 1}); ok {
		t.Fatal("malformed sample accepted")
	}
}

func TestVP8Key(t *testing.T) {
	key := []byte{0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00, 0x00}
	if k, w, h := vp8Key(key); !k || w != 320 || h != 240 {
		t.Fatalf("keyframe: %v %dx%d", k, w, h)
	}
	if k, _, _ := vp8Key([]byte{0x11, 0x02, 0x00}); k {
		t.Fatal("interframe taken for a keyframe")
	}
	if k, _, _ := vp8Key(nil); k {
		t.Fatal("empty frame taken for a keyframe")
	}
}

func TestRTPClock(t *testing.T) {
	c := rtpClock{rate: 90000}
	start := uint32(0xffffff00)
	steps := []struct {
		ts   uint32
		want time.Duration
	}{
		{start, 0},
		{start + 3000, 3000 * time.Second / 90000},
		{start + 90000, time.Second}, // wraps
		{start + 87000, 87000 * time.Second / 90000},
	}
	for _, s := range steps {
		if got := c.since(s.ts); got != s.want {
			t.Fatalf("since(%#x) = %v, want %v", s.ts, got, s.want)
		}
	}
}

func FuzzH264In(f *testing.F) {
	f.Add(codec.JoinAVCC([][]byte{testSPS, testPPS, testIDR}))
	f.Add(codec.JoinAVCC([][]byte{testAUD, testP}))
	f.Add([]byte{0, 0, 0, 1, 0x67})
	f.Add([]byte{0, 0, 0, 9})
	f.Fuzz(func(t *testing.T, b []byte) {
		h := &h264In{}
		for range 2 { // the second pass sees the parameter sets held by the first
			data, key, ok := h.unit(b)
			if !ok {
				continue
			}
			nalus, err := codec.SplitAVCC(nil, data)
			if err != nil {
				t.Fatalf("unit is not AVCC: %v", err)
			}
			if key != codec.ContainsIDR(nalus) {
				t.Fatalf("key %v for NAL units %v", key, nalus)
			}
		}
		_, _, _ = vp8Key(b)
	})
}
