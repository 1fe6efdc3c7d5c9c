package webrtc

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/colony-live/colony/core/codec"
	"github.com/colony-live/colony/core/media"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
)

var (
	testSPS = []byte{0x67, 0x64, 0x00, 0x1f, 0xac}
	testPPS = []byte{0x68, 0xee, 0x3c}
	testIDR = []byte{0x65, 0x88, 0x84, 0x00}
	testP   = []byte{0x41, 0x9a, 0x02}
	testAUD = []byte{0x09, 0xf0}
)

func annexB(nalus ...[]byte) []byte {
	var b []byte
	for _, n := range nalus {
		b = append(append(b, 0, 0, 0, 1), n...)
	}
	return b
}

func TestH264OutPrependsParameterSets(t *testing.T) {
	tests := []struct {
		name    string
		in      [][]byte
		want    []byte
		wantIDR bool
	}{
		{"IDR without parameter sets", [][]byte{testAUD, testIDR}, annexB(testSPS, testPPS, testIDR), true},
		{"IDR with them in band", [][]byte{testSPS, testPPS, testIDR}, annexB(testSPS, testPPS, testIDR), true},
		{"delta frame", [][]byte{testAUD, testP}, annexB(testP), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newH264Out(media.Track{Codec: media.H264, SPS: testSPS, PPS: testPPS})
			got, idr, err := h.annexB(nil, codec.JoinAVCC(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if idr != tt.wantIDR || !bytes.Equal(got, tt.want) {
				t.Fatalf("got % x (idr %v), want % x (idr %v)", got, idr, tt.want, tt.wantIDR)
			}
		})
	}
	h := newH264Out(media.Track{})
	if _, _, err := h.annexB(nil, []byte{0, 0, 0, 9, 1}); !errors.Is(err, codec.ErrMalformed) {
		t.Fatalf("truncated unit: err = %v", err)
	}
}

func TestH264OutFollowsInBandSPS(t *testing.T) {
	h := newH264Out(media.Track{SPS: testSPS, PPS: testPPS})
	newSPS := []byte{0x67, 0x42, 0xe0, 0x1f}
	if _, _, err := h.annexB(nil, codec.JoinAVCC([][]byte{newSPS, testPPS, testIDR})); err != nil {
		t.Fatal(err)
	}
	got, _, _ := h.annexB(nil, codec.JoinAVCC([][]byte{testIDR}))
	if want := annexB(newSPS, testPPS, testIDR); !bytes.Equal(got, want) {
		t.Fatalf("got % x, want % x", got, want)
	}
}

func TestH264FmtpFor(t *testing.T) {
	if got, want := h264FmtpFor(testSPS), "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=64001f"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if got := h264FmtpFor(nil); got != "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f" {
		t.Fatalf("default fmtp %q", got)
	}
}

type recordRTP struct{ pkts []rtp.Packet }

func (r *recordRTP) WriteRTP(p *rtp.Packet) error {
	c := *p
	c.Payload = append([]byte(nil), p.Payload...)
	r.pkts = append(r.pkts, c)
	return nil
}

func TestRTPOutPacketizes(t *testing.T) {
	rec := &recordRTP{}
	o := rtpOut{w: rec, payloader: &codecs.H264Payloader{}, video: true, seq: 65535}
	big := append([]byte{0x65}, bytes.Repeat([]byte{0xab}, 3000)...)
	if err := o.write(annexB(testSPS, testPPS, big), 1234); err != nil {
		t.Fatal(err)
	}
	if len(rec.pkts) < 3 {
		t.Fatalf("%d packets for a 3 KB IDR", len(rec.pkts))
	}
	for i, p := range rec.pkts {
		if p.Timestamp != 1234 || p.SequenceNumber != uint16(65535+i) {
			t.Fatalf("packet %d: ts %d seq %d", i, p.Timestamp, p.SequenceNumber)
		}
		if p.Marker != (i == len(rec.pkts)-1) {
			t.Fatalf("packet %d: marker %v", i, p.Marker)
		}
	}
	// The depacketizer gets the same NAL units back.
	d := &codecs.H264Packet{}
	var got []byte
	for _, p := range rec.pkts {
		b, err := d.Unmarshal(p.Payload)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, b...)
	}
	if want := annexB(testSPS, testPPS, big); !bytes.Equal(got, want) {
		t.Fatal("round trip changed the access unit")
	}
}

func TestRTPTicks(t *testing.T) {
	tests := []struct {
		d     time.Duration
		clock uint32
		want  uint32
	}{
		{time.Second, 90000, 90000},
		{33 * time.Millisecond, 90000, 2970},
		{20 * time.Millisecond, 48000, 960},
		{-time.Second, 90000, ^uint32(90000 - 1)},
		{10 * time.Hour, 90000, uint32(int64(10*3600) * 90000 % (1 << 32))},
	}
	for _, tt := range tests {
		if got := rtpTicks(tt.d, tt.clock); got != tt.want {
			t.Errorf("rtpTicks(%v, %d) = %d, want %d", tt.d, tt.clock, got, tt.want)
		}
	}
}

func TestPlanBacklog(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	v := func(pts int, key bool) *media.Unit { return &media.Unit{Track: 0, PTS: ms(pts), Key: key} }
	a := func(pts int) *media.Unit { return &media.Unit{Track: 1, PTS: ms(pts), Key: true} }
	aac := func(pts int) *media.Unit { return &media.Unit{Track: 2, PTS: ms(pts), Key: true} }
	playable := func(i int) bool { return i == 0 || i == 1 }

	t.Run("GOP backlog", func(t *testing.T) {
		units := []*media.Unit{v(0, true), a(10), v(33, false), a(30), aac(30), v(66, false), a(50), a(70), a(90)}
		anchor, compressed, live, ok := planBacklog(units, 0, playable)
		if !ok || anchor != ms(66) {
			t.Fatalf("anchor %v ok %v, want 66ms", anchor, ok)
		}
		if len(compressed) != 3 || compressed[0] != units[0] || !compressed[0].Key {
			t.Fatalf("compressed %v, want the 3 video units from the keyframe", compressed)
		}
		if len(live) != 2 || live[0].PTS != ms(70) || live[1].PTS != ms(90) {
			t.Fatalf("live %v, want the audio from the anchor on", live)
		}
	})
	t.Run("audio only", func(t *testing.T) {
		units := []*media.Unit{a(0), a(20), a(40)}
		anchor, compressed, live, ok := planBacklog(units, -1, playable)
		if !ok || anchor != ms(40) || len(compressed) != 0 || len(live) != 1 {
			t.Fatalf("anchor %v compressed %d live %d", anchor, len(compressed), len(live))
		}
	})
	t.Run("empty", func(t *testing.T) {
		if _, _, _, ok := planBacklog(nil, 0, playable); ok {
			t.Fatal("ok without backlog")
		}
	})
}

// The start-up burst waits burstGap per burstSlice of frames sent, and no
// more than the slices owed: frames are never split, so a keyframe larger
// than a slice goes at once and the wait after it covers all of it.
// (Timers never fire early, so the least time is exact; a missing wait
// would take none.)
func TestBurstPacer(t *testing.T) {
	const kb = 1 << 10
	for _, tc := range []struct {
		name   string
		frames []int
		slices int // burstGaps waited in all
		owed   int // bytes left towards the next slice
	}{
		{"under a slice", []int{10 * kb, 10 * kb}, 0, 20 * kb},
		{"one slice", []int{burstSlice}, 1, 0},
		{"a keyframe of two slices and more", []int{70 * kb}, 2, 70*kb - 2*burstSlice},
		{"a GOP of small frames", []int{8 * kb, 8 * kb, 8 * kb, 8 * kb, 8 * kb, 8 * kb, 8 * kb, 8 * kb, 8 * kb, 8 * kb}, 2, 80*kb - 2*burstSlice},
		{"keyframe, then frames", []int{40 * kb, 12 * kb, 12 * kb, 12 * kb}, 2, 76*kb - 2*burstSlice},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p burstPacer
			start := time.Now()
			for _, n := range tc.frames {
				if !p.sent(t.Context(), n) {
					t.Fatal("sent reported an ended context")
				}
			}
			if took, want := time.Since(start), time.Duration(tc.slices)*burstGap; took < want {
				t.Errorf("burst of %v took %v, want at least %v", tc.frames, took, want)
			}
			if p.owed != tc.owed {
				t.Errorf("owed %d bytes, want %d", p.owed, tc.owed)
			}
		})
	}
	t.Run("session ends during a wait", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		var p burstPacer
		if p.sent(ctx, 100*burstSlice) { // 200 ms owed
			t.Error("sent waited out a burst whose session had ended")
		}
	})
}
