package hls

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"

	"github.com/colony-live/colony/core/stream"
)

// fakeRenditions is a Renditions over a fixed map.
type fakeRenditions struct {
	mu   sync.Mutex
	keys map[stream.Key][]stream.Key
	err  error
}

func (f *fakeRenditions) RenditionKeys(_ context.Context, key stream.Key) ([]stream.Key, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.keys[key], f.err
}

func TestAdaptivePlaylist(t *testing.T) {
	tests := []struct {
		variant       string
		separateAudio bool
		groups        int // audio groups: one per variant when audio is separate
	}{
		{VariantLowLatency, false, 0},
		{VariantLowLatency, true, 2},
		{VariantMPEGTS, false, 0},
	}
	for _, tt := range tests {
		variant := tt.variant
		t.Run(fmt.Sprintf("%s/separate_audio=%v", variant, tt.separateAudio), func(t *testing.T) {
			t.Parallel()
			src, r240, gone := mustKey(t, "LiveApp", "abr1"), mustKey(t, "LiveApp", "abr1_240p"), mustKey(t, "LiveApp", "abr1_120p")
			rl := &fakeRenditions{keys: map[stream.Key][]stream.Key{src: {r240, gone}}}
			ts := newTestServer(t, Config{Variant: variant, Renditions: rl, ReadyTimeout: 15 * time.Second, SeparateAudio: tt.separateAudio})
			ts.publish(t, src, 4*time.Second)
			ts.publish(t, r240, 4*time.Second)

			code, body, hdr := ts.get(t, "/LiveApp/streams/abr1_adaptive.m3u8?token=x")
			if code != http.StatusOK || hdr.Get("Content-Type") != "application/vnd.apple.mpegurl" {
				t.Fatalf("adaptive playlist: %d %q: %s", code, hdr.Get("Content-Type"), body)
			}
			var mv playlist.Multivariant
			if err := mv.Unmarshal([]byte(body)); err != nil {
				t.Fatalf("adaptive playlist does not parse: %v\n%s", err, body)
			}
			if len(mv.Variants) != 2 { // the missing rendition is left out
				t.Fatalf("%d variants, want the source and 240p:\n%s", len(mv.Variants), body)
			}
			groups := map[string]*playlist.MultivariantRendition{}
			for _, r := range mv.Renditions {
				if groups[r.GroupID] != nil {
					t.Fatalf("group %s twice:\n%s", r.GroupID, body)
				}
				groups[r.GroupID] = r
			}
			prefixes := map[string]bool{}
			for _, v := range mv.Variants {
				if v.Bandwidth <= 0 || v.Resolution != "320x240" || len(v.Codecs) == 0 {
					t.Errorf("variant %+v lacks BANDWIDTH, RESOLUTION or CODECS", v)
				}
				if !prefixedURI.MatchString(v.URI) || !strings.Contains(v.URI, "token=x") {
					t.Errorf("variant URI %q not routed to a muxer (or lost the query)", v.URI)
				}
				prefixes[v.URI[:prefixLen]] = true
				if code, pl, _ := ts.get(t, "/LiveApp/streams/"+v.URI); code != http.StatusOK || !strings.Contains(pl, "#EXTINF") {
					t.Errorf("variant playlist %s: %d\n%s", v.URI, code, pl)
				}
				if v.Audio != "" {
					g := groups[v.Audio]
					if g == nil || g.URI == nil || (*g.URI)[:prefixLen] != v.URI[:prefixLen] {
						t.Errorf("variant %s: audio group %q missing or from another muxer:\n%s", v.URI, v.Audio, body)
					} else if code, _, _ := ts.get(t, "/LiveApp/streams/"+*g.URI); code != http.StatusOK {
						t.Errorf("audio playlist %s: %d", *g.URI, code)
					}
				}
			}
			if len(prefixes) != 2 {
				t.Fatalf("variants point to %d muxers, want 2:\n%s", len(prefixes), body)
			}
			if len(groups) != tt.groups {
				t.Fatalf("%d audio groups, want %d:\n%s", len(groups), tt.groups, body)
			}
		})
	}
}

func TestAdaptiveNotFound(t *testing.T) {
	src := mustKey(t, "LiveApp", "abr2")
	tests := []struct {
		name string
		rl   *fakeRenditions
		want int
	}{
		{"no renditions source", nil, http.StatusNotFound},
		{"no renditions", &fakeRenditions{}, http.StatusNotFound},
		{"renditions not live", &fakeRenditions{keys: map[stream.Key][]stream.Key{src: {mustKey(t, "LiveApp", "abr2_240p")}}}, http.StatusNotFound},
		{"store down", &fakeRenditions{err: errors.New("down")}, http.StatusServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{ReadyTimeout: 5 * time.Second}
			if tt.rl != nil {
				cfg.Renditions = tt.rl
			}
			ts := newTestServer(t, cfg)
			ts.publish(t, src, 2*time.Second)
			if code, body, _ := ts.get(t, "/LiveApp/streams/abr2_adaptive.m3u8"); code != tt.want {
				t.Fatalf("status %d, want %d: %s", code, tt.want, body)
			}
		})
	}
	ts := newTestServer(t, Config{Renditions: &fakeRenditions{}})
	if code, _, _ := ts.get(t, "/LiveApp/streams/nobody_adaptive.m3u8"); code != http.StatusNotFound {
		t.Fatalf("adaptive playlist of an unknown stream: %d", code)
	}
}

// TestAdaptiveFFprobe checks that ffprobe reads every variant of the
// adaptive playlist.
func TestAdaptiveFFprobe(t *testing.T) {
	src, r := mustKey(t, "LiveApp", "abr3"), mustKey(t, "LiveApp", "abr3_240p")
	ts := newTestServer(t, Config{Renditions: &fakeRenditions{keys: map[stream.Key][]stream.Key{src: {r}}}})
	ts.publish(t, src, 4*time.Second)
	ts.publish(t, r, 4*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-show_entries",
		"stream=codec_type,codec_name,width,height:stream_tags=variant_bitrate", "-of", "json",
		ts.url("/LiveApp/streams/abr3_adaptive.m3u8")).Output()
	if err != nil {
		t.Fatalf("ffprobe: %v %s", err, out)
	}
	var res probeResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatal(err)
	}
	video := 0
	for _, s := range res.Streams {
		if s.CodecType == "video" && s.Width == 320 {
			video++
		}
	}
	if video != 2 {
		t.Fatalf("ffprobe found %d video streams, want 2: %s", video, out)
	}
}
