package hls

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/codecs"

	"github.com/colony-live/colony/core/codec"
	"github.com/colony-live/colony/core/media"
)

func TestTicks(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		rate int
		want int64
	}{
		{0, 90000, 0},
		{time.Second, 90000, 90000},
		{time.Second / 30, 90000, 3000},
		{1024 * time.Second / 48000, 48000, 1024},
		{1024 * time.Second / 44100, 44100, 1024}, // 23.219954ms, rounded back
		{-time.Second / 30, 90000, -3000},
		{100 * time.Hour, 90000, 100 * 3600 * 90000},
	} {
		if got := ticks(tc.d, tc.rate); got != tc.want {
			t.Errorf("ticks(%v, %d) = %d, want %d", tc.d, tc.rate, got, tc.want)
		}
	}
}

func TestWithParameterSets(t *testing.T) {
	sps, pps := []byte{0x67, 1, 2, 3}, []byte{0x68, 4}
	aud, idr, sei := []byte{0x09, 0xf0}, []byte{0x65, 9}, []byte{0x06, 5}
	for _, tc := range []struct {
		name string
		in   [][]byte
		want [][]byte
	}{
		{"bare IDR", [][]byte{idr}, [][]byte{sps, pps, idr}},
		{"after AUD", [][]byte{aud, sei, idr}, [][]byte{aud, sps, pps, sei, idr}},
		{"in band already", [][]byte{sps, pps, idr}, [][]byte{sps, pps, idr}},
		{"other SPS in band", [][]byte{{0x67, 7}, pps, idr}, [][]byte{{0x67, 7}, pps, idr}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := withParameterSets(tc.in, sps, pps)
			if len(got) != len(tc.want) {
				t.Fatalf("got %x, want %x", got, tc.want)
			}
			for i := range got {
				if !bytes.Equal(got[i], tc.want[i]) {
					t.Fatalf("got %x, want %x", got, tc.want)
				}
			}
		})
	}
	if got := withParameterSets([][]byte{idr}, nil, nil); len(got) != 1 {
		t.Errorf("without known parameter sets the unit must stay as is: %x", got)
	}
}

func TestMapTracks(t *testing.T) {
	c := testClip(t)
	h264, aac := c.tracks[0], c.tracks[1]
	opus := media.Track{Codec: media.Opus, ClockRate: 48000, SampleRate: 48000, Channels: 2}
	vp8 := media.Track{Codec: media.VP8, ClockRate: 90000}
	badAAC := media.Track{Codec: media.AAC, Config: []byte{0xff}}
	for _, tc := range []struct {
		name    string
		variant string
		tracks  []media.Track
		mapped  []string // codec per media track, "" for skipped
		err     error
	}{
		{"h264+aac ll", VariantLowLatency, []media.Track{h264, aac}, []string{"H264", "AAC"}, nil},
		{"h264+aac ts", VariantMPEGTS, []media.Track{h264, aac}, []string{"H264", "AAC"}, nil},
		{"opus in fmp4", VariantFMP4, []media.Track{h264, opus}, []string{"H264", "Opus"}, nil},
		{"opus not in ts", VariantMPEGTS, []media.Track{h264, opus}, []string{"H264", ""}, nil},
		{"second video and audio in ts", VariantMPEGTS, []media.Track{h264, aac, h264, aac}, []string{"H264", "AAC", "", ""}, nil},
		{"vp8 and bad aac", VariantFMP4, []media.Track{vp8, badAAC, aac}, []string{"", "", "AAC"}, nil},
		{"nothing", VariantFMP4, []media.Track{vp8}, []string{""}, errNoTracks},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mp, err := mapTracks(tc.tracks, tc.variant, -1)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			if err != nil {
				return
			}
			n := 0
			for i, w := range mp.writers {
				var got string
				switch w.(type) {
				case *h264Writer:
					got = "H264"
				case *aacWriter:
					got = "AAC"
				case *opusWriter:
					got = "Opus"
				}
				if got != tc.mapped[i] {
					t.Errorf("track %d mapped to %q, want %q", i, got, tc.mapped[i])
				}
				if got != "" {
					n++
				} else if len(mp.skipped) == 0 {
					t.Errorf("track %d skipped without a reason", i)
				}
			}
			if len(mp.tracks) != n {
				t.Errorf("%d muxer tracks for %d mapped", len(mp.tracks), n)
			}
			for _, ht := range mp.tracks {
				if a, ok := ht.Codec.(*codecs.MPEG4Audio); ok && ht.ClockRate != a.Config.SampleRate {
					t.Errorf("AAC clock rate %d, sample rate %d", ht.ClockRate, a.Config.SampleRate)
				}
			}
		})
	}
}

// TestH264WriterWaitsForKeyframe feeds units to a real muxer: a delta
// frame before the first keyframe is dropped, and an IDR without SPS/PPS
// is accepted (the track's are prepended).
func TestH264WriterWaitsForKeyframe(t *testing.T) {
	c := testClip(t)
	sm, err := newStreamMuxer(t.Context(), Config{Variant: VariantMPEGTS}.withDefaults(),
		mustKey(t, "LiveApp", "w"), media.NewStream(c.tracks, media.StreamConfig{}), Config{}.withDefaults().Logger, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sm.discard()
	w := sm.writers[0].(*h264Writer)
	var firstKey, delta *media.Unit
	for i := range c.units {
		u := &c.units[i]
		if u.Track != 0 {
			continue
		}
		if u.Key && firstKey == nil {
			firstKey = u
		} else if !u.Key && delta == nil {
			delta = u
		}
	}
	nalus, _ := codec.SplitAVCC(nil, firstKey.Data)
	for _, n := range nalus {
		if codec.NALUType(n) == codec.NALUSPS {
			t.Fatal("the clip's IDR carries an SPS: it does not test the prepending")
		}
	}
	if err := w.write(sm.muxer, time.Now(), delta); err != nil || w.started {
		t.Fatalf("delta frame before a keyframe: err %v, started %v", err, w.started)
	}
	if err := w.write(sm.muxer, time.Now(), firstKey); err != nil || !w.started {
		t.Fatalf("IDR without in-band SPS/PPS: err %v, started %v", err, w.started)
	}
	if err := w.write(sm.muxer, time.Now(), delta); err != nil {
		t.Fatalf("delta frame after the keyframe: %v", err)
	}
}
