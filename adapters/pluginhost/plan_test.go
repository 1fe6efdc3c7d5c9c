package pluginhost

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/core/stream"
)

func TestPlanLadder(t *testing.T) {
	v360 := media.Track{Codec: media.H264, ClockRate: 90000, Width: 640, Height: 360}
	aac := media.Track{Codec: media.AAC, ClockRate: 48000, Config: []byte{0x11, 0x90}}
	r := func(h, vb int, force bool) stream.Rendition {
		return stream.Rendition{Height: h, VideoBitrate: vb, AudioBitrate: 64_000, ForceEncode: force}
	}
	tests := []struct {
		name      string
		tracks    []media.Track
		ladder    []stream.Rendition
		names     []string
		widths    []uint32
		wire      []int
		wantErr   error
		nFedTrack int
	}{
		{"skip upscale", []media.Track{v360, aac}, []stream.Rendition{r(1080, 4e6, false), r(360, 8e5, false), r(240, 4e5, false)},
			[]string{"360p", "240p"}, []uint32{640, 426}, []int{0, 1}, nil, 2},
		{"force encodes at the source height", []media.Track{v360, aac}, []stream.Rendition{r(720, 2e6, true), r(240, 4e5, false)},
			[]string{"360p", "240p"}, []uint32{640, 426}, []int{0, 1}, nil, 2},
		{"force yields to a rung at the source height", []media.Track{v360}, []stream.Rendition{r(720, 2e6, true), r(360, 8e5, false)},
			[]string{"360p"}, []uint32{640}, []int{0}, nil, 1},
		{"duplicates and invalid rungs", []media.Track{aac, v360}, []stream.Rendition{r(240, 4e5, false), r(240, 3e5, false), r(0, 1, false), r(180, 0, false)},
			[]string{"240p"}, []uint32{426}, []int{1, 0}, nil, 2},
		{"odd height rounds down to even", []media.Track{v360}, []stream.Rendition{r(145, 2e5, false)},
			[]string{"144p"}, []uint32{256}, []int{0}, nil, 1},
		{"nothing applies", []media.Track{v360}, []stream.Rendition{r(720, 2e6, false)}, nil, nil, nil, ErrNoRenditions, 0},
		{"no size", []media.Track{{Codec: media.H264, ClockRate: 90000}}, []stream.Rendition{r(240, 4e5, false)}, nil, nil, nil, ErrUnsupportedSource, 0},
		{"H265", []media.Track{{Codec: media.H265, Width: 640, Height: 360}}, []stream.Rendition{r(240, 4e5, false)}, nil, nil, nil, ErrUnsupportedSource, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := planLadder(tt.tracks, tt.ladder)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			var names []string
			var widths []uint32
			for i, rr := range p.renditions {
				names = append(names, rr.Name)
				widths = append(widths, p.rungs[i].Width)
				if int(p.rungs[i].Height) != rr.Rung.Height {
					t.Fatalf("rung %d: wire height %d, rendition height %d", i, p.rungs[i].Height, rr.Rung.Height)
				}
			}
			if !slices.Equal(names, tt.names) || !slices.Equal(widths, tt.widths) || !slices.Equal(p.wire, tt.wire) || len(p.tracks) != tt.nFedTrack {
				t.Fatalf("plan: names %v widths %v wire %v (%d tracks fed); want %v %v %v (%d)",
					names, widths, p.wire, len(p.tracks), tt.names, tt.widths, tt.wire, tt.nFedTrack)
			}
		})
	}
}

func TestPlanBridge(t *testing.T) {
	v := media.Track{Codec: media.H264, Width: 640, Height: 360}
	tests := []struct {
		name    string
		tracks  []media.Track
		to      media.Codec
		wire    []int
		frameMS uint32 // the rung's Opus packet duration
		wantErr error
	}{
		{"aac to opus", []media.Track{v, {Codec: media.AAC}}, media.Opus, []int{-1, 0}, 40, nil},
		{"opus to aac", []media.Track{{Codec: media.Opus}, v}, media.AAC, []int{0, -1}, 0, nil},
		{"no audio", []media.Track{v}, media.Opus, nil, 0, ErrUnsupportedSource},
		{"to VP8", []media.Track{{Codec: media.AAC}}, media.VP8, nil, 0, ErrUnsupportedSource},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := planBridge(tt.tracks, tt.to, 32_000, 40*time.Millisecond)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if !slices.Equal(p.wire, tt.wire) || p.video != -1 || len(p.rungs) != 1 || p.rungs[0].Height != 0 ||
				p.rungs[0].AudioCodec != string(tt.to) || p.rungs[0].AudioBitrate != 32_000 || p.rungs[0].AudioFrameMs != tt.frameMS {
				t.Fatalf("plan = %+v, rungs %v", p, p.rungs)
			}
			if !p.resumePoint(&media.Unit{Track: p.wire[0]}) {
				t.Fatal("an audio-only session cannot resume at an audio unit")
			}
		})
	}
}
