package webrtc

import (
	"testing"
	"time"

	"github.com/colony-live/colony/core/stream"
	"github.com/pion/rtcp"
)

func TestDecideABR(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	type step struct {
		ms         int
		loss, remb float64
		rate       float64
		want       int // rung after the observation
	}
	tests := []struct {
		name  string
		start int
		rungs int
		steps []step
	}{
		{"sustained loss steps down after 2 s", 0, 3, []step{
			{0, 0.2, 0, 0, 0}, {1000, 0.2, 0, 0, 0}, {1999, 0.3, 0, 0, 0}, {2000, 0.15, 0, 0, 1},
		}},
		{"a good report breaks the run of loss", 0, 3, []step{
			{0, 0.2, 0, 0, 0}, {1000, 0.2, 0, 0, 0}, {1500, 0.01, 0, 0, 0}, {2500, 0.2, 0, 0, 0}, {4000, 0.2, 0, 0, 0}, {4500, 0.2, 0, 0, 1},
		}},
		{"moderate loss neither steps", 1, 3, []step{
			{0, 0.05, 0, 0, 1}, {3000, 0.05, 0, 0, 1}, {20000, 0.08, 0, 0, 1},
		}},
		{"one rung per 2 s of loss after the step, down to the last", 0, 3, []step{
			{0, 0.5, 0, 0, 0}, {2000, 0.5, 0, 0, 1}, {3000, 0.5, 0, 0, 1}, {4000, 0.5, 0, 0, 1}, {5000, 0.5, 0, 0, 2}, {9000, 0.5, 0, 0, 2},
		}},
		{"quiet for 10 s steps up", 2, 3, []step{
			{0, 0, 0, 0, 2}, {5000, 0.01, 0, 0, 2}, {9999, 0, 0, 0, 2}, {10000, 0, 0, 0, 1}, {15000, 0, 0, 0, 1}, {20000, 0, 0, 0, 0},
		}},
		{"never above the original", 0, 3, []step{
			{0, 0, 0, 0, 0}, {10000, 0, 0, 0, 0}, {30000, 0, 0, 0, 0},
		}},
		{"some loss restarts the quiet period", 1, 3, []step{
			{0, 0, 0, 0, 1}, {8000, 0.05, 0, 0, 1}, {9000, 0, 0, 0, 1}, {18000, 0, 0, 0, 1}, {19000, 0, 0, 0, 0},
		}},
		{"a step down restarts the quiet period", 0, 2, []step{
			{0, 0.5, 0, 0, 0}, {2000, 0.5, 0, 0, 1}, {3000, 0, 0, 0, 1}, {11999, 0, 0, 0, 1}, {12000, 0, 0, 0, 0},
		}},
		{"REMB below the sending rate is like loss", 0, 2, []step{
			{0, 0, 1e6, 2e6, 0}, {2000, 0, 1e6, 2e6, 1},
		}},
		{"REMB without headroom blocks a step up", 1, 2, []step{
			{0, 0, 1.2e6, 1e6, 1}, {20000, 0, 1.2e6, 1e6, 1}, {21000, 0, 2e6, 1e6, 1}, {31000, 0, 2e6, 1e6, 0},
		}},
		{"a single rung never moves", 0, 1, []step{
			{0, 0.9, 0, 0, 0}, {5000, 0.9, 0, 0, 0},
		}},
		{"a shrunk ladder clamps the rung", 3, 2, []step{
			{0, 0.05, 0, 0, 1},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := abrState{Rung: tt.start}
			for i, st := range tt.steps {
				s = decideABR(defaultABR, s, abrObs{At: at(st.ms), Loss: st.loss, REMB: st.remb, Rate: st.rate}, tt.rungs)
				if s.Rung != st.want {
					t.Fatalf("step %d (t=%dms loss %.2f): rung %d, want %d", i, st.ms, st.loss, s.Rung, st.want)
				}
			}
		})
	}
}

func TestABRFeedObserve(t *testing.T) {
	f := &abrFeed{ssrc: 42}
	now := time.Unix(5, 0)
	if _, ok := f.observe([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: 42}}, now); ok {
		t.Fatal("observation without a receiver report")
	}
	if _, ok := f.observe([]rtcp.Packet{&rtcp.ReceiverEstimatedMaximumBitrate{Bitrate: 800e3, SSRCs: []uint32{42}}}, now); ok {
		t.Fatal("observation from a REMB alone")
	}
	o, ok := f.observe([]rtcp.Packet{&rtcp.ReceiverReport{Reports: []rtcp.ReceptionReport{
		{SSRC: 7, FractionLost: 255}, {SSRC: 42, FractionLost: 64},
	}}}, now)
	if !ok || o.Loss != 0.25 || o.REMB != 800e3 || !o.At.Equal(now) {
		t.Fatalf("observation %+v ok %v, want loss 0.25 and the last REMB", o, ok)
	}
	if _, ok := f.observe([]rtcp.Packet{&rtcp.ReceiverReport{Reports: []rtcp.ReceptionReport{{SSRC: 7}}}}, now); ok {
		t.Fatal("observation from another stream's report")
	}
}

func TestParseQuality(t *testing.T) {
	tests := []struct {
		in   string
		want int
		bad  bool
	}{
		{"", 0, false}, {"auto", 0, false}, {"AUTO", 0, false}, {"0", 0, false},
		{"240", 240, false}, {"480p", 480, false}, {" 720 ", 720, false},
		{"-1", 0, true}, {"high", 0, true}, {"1e3", 0, true}, {"99999999", 0, true},
	}
	for _, tt := range tests {
		got, err := parseQuality(tt.in)
		if (err != nil) != tt.bad || got != tt.want {
			t.Errorf("parseQuality(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.bad)
		}
	}
}

func TestRenditionHeight(t *testing.T) {
	tests := []struct {
		id   string
		want int
		ok   bool
	}{
		{"cam_480p", 480, true}, {"cam_240p", 240, true}, {"cam", 0, false}, {"cam_p", 0, false},
		{"cam_48x0p", 0, false}, {"cam_0p", 0, false}, {"other_480p", 0, false}, {"cam_480", 0, false},
	}
	for _, tt := range tests {
		h, ok := renditionHeight("cam", stream.ID(tt.id))
		if h != tt.want || ok != tt.ok {
			t.Errorf("renditionHeight(%q) = %d, %v", tt.id, h, ok)
		}
	}
	if got := rungOf([]int{480, 240}, 240); got != 2 {
		t.Errorf("rungOf 240 = %d, want 2", got)
	}
	if got := rungOf([]int{480, 240}, 0); got != 0 {
		t.Errorf("rungOf original = %d, want 0", got)
	}
}
