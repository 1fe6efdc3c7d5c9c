package hls

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"

	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/core/stream"
)

// opusClip is the test clip as a WebRTC publication brings it: the same
// video, and 20 ms Opus packets (CELT fullband stereo TOC) for the audio.
func opusClip(t testing.TB) (opus clip, aac clip) {
	t.Helper()
	c := testClip(t)
	opus.tracks = []media.Track{c.tracks[0], {Codec: media.Opus, ClockRate: 48000, SampleRate: 48000, Channels: 2}}
	aac.tracks = []media.Track{c.tracks[1]}
	next := time.Duration(0)
	for _, u := range c.units {
		if u.Track == 0 {
			for next <= u.DTS {
				opus.units = append(opus.units, media.Unit{Track: 1, PTS: next, DTS: next, Key: true, Data: []byte{0xfc, 0xff, 0xfe}})
				next += 20 * time.Millisecond
			}
			opus.units = append(opus.units, u)
			continue
		}
		u.Track = 0
		aac.units = append(aac.units, u)
	}
	return opus, aac
}

// fakeCompanions answers AACFor with a stream fed from the AAC clip, or
// with err.
type fakeCompanions struct {
	err   error
	aac   clip
	calls atomic.Int32

	mu      sync.Mutex
	streams []*media.Stream
}

func (f *fakeCompanions) AACFor(ctx context.Context, _ stream.Key) (*media.Stream, error) {
	defer f.calls.Add(1) // after the stream is listed for feedAll
	if f.err != nil {
		return nil, f.err
	}
	s := media.NewStream(f.aac.tracks, media.StreamConfig{})
	f.mu.Lock()
	f.streams = append(f.streams, s)
	f.mu.Unlock()
	return s, nil
}

// feedWith feeds src from oc and the companion streams from f.aac, in
// one DTS order (a companion without lag), a burst of media at once then
// in real time, until ctx ends.
func (f *fakeCompanions) feedWith(ctx context.Context, src *media.Stream, oc clip, burst time.Duration) {
	f.mu.Lock()
	comps := f.streams
	f.mu.Unlock()
	start := time.Now()
	for loop := 0; ; loop++ {
		off := time.Duration(loop) * clipDuration
		i, j := 0, 0
		for i < len(oc.units) || j < len(f.aac.units) {
			var u media.Unit
			toSrc := j >= len(f.aac.units) || i < len(oc.units) && oc.units[i].DTS <= f.aac.units[j].DTS
			if toSrc {
				u = oc.units[i]
				i++
			} else {
				u = f.aac.units[j]
				j++
			}
			u.PTS += off
			u.DTS += off
			if !waitDue(ctx, start, u.DTS-burst) {
				return
			}
			u.Ingest = time.Now()
			if toSrc {
				src.Write(&u)
			} else {
				for _, c := range comps {
					c.Write(&u)
				}
			}
		}
	}
}

func TestAACCompanion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		audio     string
		err       error
		wantCodec string // in the multivariant CODECS; "" for none
		wantCalls int32
	}{
		{"companion", "", nil, "mp4a.40.2", 1},
		{"companion fails: opus", AudioAuto, errors.New("no plugin"), "opus", 1},
		{"companion fails: no audio", AudioAAC, errors.New("no plugin"), "", 1},
		{"opus wanted", AudioOpus, nil, "opus", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			oc, ac := opusClip(t)
			comp := &fakeCompanions{err: tt.err, aac: ac}
			ts := newTestServer(t, Config{Audio: tt.audio, Companions: comp, CompanionTimeout: 2 * time.Second})
			key := mustKey(t, "LiveApp", "webrtc")
			src := media.NewStream(oc.tracks, media.StreamConfig{})
			ts.reg.set(key, src)
			ts.srv.Attach(key, src)
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			t.Cleanup(func() {
				cancel()
				wg.Wait()
				src.Close()
			})
			waitFor(t, "the muxer to ask for its companion", func() bool { return comp.calls.Load() == tt.wantCalls })
			// No burst: a burst lets the video reader build whole segments
			// before the companion reader catches up.
			wg.Go(func() { comp.feedWith(ctx, src, oc, 0) })

			main, _ := ts.mainPlaylist(t, "webrtc")
			codecs := codecsAttr(main)
			if !strings.HasPrefix(codecs, "avc1.") {
				t.Errorf("CODECS %q: no video", codecs)
			}
			if tt.wantCodec == "" && strings.Contains(codecs, ",") || tt.wantCodec != "" && !strings.Contains(codecs, tt.wantCodec) {
				t.Errorf("CODECS %q, want audio %q:\n%s", codecs, tt.wantCodec, main)
			}
			if tt.wantCodec != "" {
				// The audio (muxed with the video) carries media: about 1 s
				// per segment. The first segment may start before the
				// audio does: check the second.
				uri := uris(main)[0]
				var segs []string
				var media string
				waitFor(t, "three segments", func() bool {
					_, media, _ = ts.get(t, "/LiveApp/streams/"+uri)
					segs = uris(media)
					return countSegments([]byte(media)) >= 3
				})
				minBytes := 2000 // 64 kb/s AAC
				if tt.wantCodec == "opus" {
					minBytes = 100 // the fake 3-byte packets, 50 a second
				}
				if n := audioBytes(t, ts, media, segs[len(segs)-2]); n < minBytes {
					t.Errorf("audio in segment %s: %d bytes, want %d or more\n%s", segs[len(segs)-2], n, minBytes, media)
				}
			}
			if n := comp.calls.Load(); n != tt.wantCalls {
				t.Errorf("AACFor called %d times, want %d", n, tt.wantCalls)
			}
		})
	}
}

// audioBytes returns the bytes of audio samples in an fMP4 segment of a
// media playlist (the tracks its init file does not call video).
func audioBytes(t testing.TB, ts *testServer, media, seg string) int {
	t.Helper()
	m := mapRe.FindStringSubmatch(media)
	if m == nil {
		t.Fatalf("no EXT-X-MAP in\n%s", media)
	}
	code, body, _ := ts.get(t, "/LiveApp/streams/"+m[1])
	var init fmp4.Init
	if err := init.Unmarshal(bytes.NewReader([]byte(body))); code != http.StatusOK || err != nil {
		t.Fatalf("init %s: %d %v", m[1], code, err)
	}
	audio := map[int]bool{}
	for _, tr := range init.Tracks {
		audio[tr.ID] = !tr.Codec.IsVideo()
	}
	code, body, _ = ts.get(t, "/LiveApp/streams/"+seg)
	var parts fmp4.Parts
	if err := parts.Unmarshal([]byte(body)); code != http.StatusOK || err != nil {
		t.Fatalf("segment %s: %d %v", seg, code, err)
	}
	n := 0
	for _, p := range parts {
		for _, tr := range p.Tracks {
			for _, s := range tr.Samples {
				if audio[tr.ID] {
					n += len(s.Payload)
				}
			}
		}
	}
	return n
}

// codecsAttr returns the CODECS attribute of a multivariant playlist's
// first variant.
func codecsAttr(pl string) string {
	_, v, ok := strings.Cut(pl, `CODECS="`)
	if !ok {
		return ""
	}
	v, _, _ = strings.Cut(v, `"`)
	return v
}
