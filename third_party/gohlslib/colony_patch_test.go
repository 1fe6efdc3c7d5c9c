package gohlslib

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/stretchr/testify/require"

	"github.com/bluenviron/gohlslib/v2/pkg/storage"
)

// countingFactory is a StorageFactory that counts the files it made.
type countingFactory struct {
	inner storage.Factory
	files int
}

func (f *countingFactory) NewFile(name string) (storage.File, error) {
	f.files++
	return f.inner.NewFile(name)
}

func colonyGet(t *testing.T, m *Muxer, name string) string {
	t.Helper()
	w := httptest.NewRecorder()
	m.Handle(w, httptest.NewRequest(http.MethodGet, "/"+name, nil))
	require.Equal(t, http.StatusOK, w.Code, name)
	return w.Body.String()
}

// Colony patch: with MuxedAudio, the fMP4 variants list one media
// playlist whose init file, parts and segments carry the video and the
// audio; StorageFactory stores them.
func TestColonyMuxedAudio(t *testing.T) {
	for _, variant := range []MuxerVariant{MuxerVariantLowLatency, MuxerVariantFMP4} {
		factory := &countingFactory{inner: storage.NewFactoryRAM()}
		video := &Track{Codec: testVideoTrack.Codec, ClockRate: 90000}
		audio := &Track{Codec: testAudioTrack.Codec, ClockRate: 44100}
		m := &Muxer{
			Variant:            variant,
			SegmentCount:       7,
			SegmentMinDuration: time.Second,
			Tracks:             []*Track{video, audio},
			MuxedAudio:         true,
			StorageFactory:     factory,
		}
		require.NoError(t, m.Start())

		// 4 s of 30 fps video with a keyframe a second, and AAC frames.
		for i := 0; i < 120; i++ {
			au := [][]byte{{1}}
			if i%30 == 0 {
				au = [][]byte{testH264SPS, {8}, {5}}
			}
			pts := int64(i) * 3000
			require.NoError(t, m.WriteH264(video, testTime.Add(time.Duration(pts)*time.Second/90000), pts, au))
			apts := int64(i) * 1470 // 1/30 s at 44.1 kHz
			require.NoError(t, m.WriteMPEG4Audio(audio, testTime.Add(time.Duration(apts)*time.Second/44100), apts,
				[][]byte{{1, 2, 3, 4}}))
		}

		mv := colonyGet(t, m, "index.m3u8")
		require.NotContains(t, mv, "#EXT-X-MEDIA", "variant %v", variant)
		require.Equal(t, 1, strings.Count(mv, "#EXT-X-STREAM-INF"))
		require.Contains(t, mv, `CODECS="avc1.`)
		require.Contains(t, mv, `mp4a.40.2"`)
		require.Contains(t, mv, "main_stream.m3u8")

		media := colonyGet(t, m, "main_stream.m3u8")
		initName := regexp.MustCompile(`#EXT-X-MAP:URI="([^"]+)"`).FindStringSubmatch(media)
		require.NotNil(t, initName, media)
		var init fmp4.Init
		require.NoError(t, init.Unmarshal(bytes.NewReader([]byte(colonyGet(t, m, initName[1])))))
		require.Len(t, init.Tracks, 2)

		seg := regexp.MustCompile(`(?m)^([^#\n]+_seg[0-9]+\.mp4)$`).FindStringSubmatch(media)
		require.NotNil(t, seg, media)
		var parts fmp4.Parts
		require.NoError(t, parts.Unmarshal([]byte(colonyGet(t, m, seg[1]))))
		ids := map[int]int{}
		for _, p := range parts {
			for _, tr := range p.Tracks {
				ids[tr.ID] += len(tr.Samples)
			}
		}
		require.Len(t, ids, 2, "tracks in segment %s", seg[1])
		require.Greater(t, ids[1], 20) // video
		require.Greater(t, ids[2], 20) // audio
		require.Greater(t, factory.files, 2)
		m.Close()
	}
}

// Without MuxedAudio, audio stays a rendition of its own, as upstream.
func TestColonySeparateAudioByDefault(t *testing.T) {
	video := &Track{Codec: testVideoTrack.Codec, ClockRate: 90000}
	audio := &Track{Codec: testAudioTrack.Codec, ClockRate: 44100}
	m := &Muxer{Variant: MuxerVariantLowLatency, Tracks: []*Track{video, audio}}
	require.NoError(t, m.Start())
	defer m.Close()
	for i := 0; i < 90; i++ {
		au := [][]byte{{1}}
		if i%30 == 0 {
			au = [][]byte{testH264SPS, {8}, {5}}
		}
		pts := int64(i) * 3000
		require.NoError(t, m.WriteH264(video, testTime, pts, au))
		require.NoError(t, m.WriteMPEG4Audio(audio, testTime, int64(i)*1470, [][]byte{{1, 2, 3, 4}}))
	}
	w := httptest.NewRecorder()
	m.Handle(w, httptest.NewRequest(http.MethodGet, "/index.m3u8", nil))
	body, _ := io.ReadAll(w.Body)
	require.Contains(t, string(body), "#EXT-X-MEDIA:TYPE=AUDIO")
}

// Colony patch: PartTargetJitter keeps the part target still while the
// parts' durations move with the source's timestamp rounding.
func TestColonySteadyPartTarget(t *testing.T) {
	ms := time.Millisecond
	for _, c := range []struct {
		name               string
		cur, longest, want time.Duration
	}{
		{"first part", 0, 133 * ms, 134 * ms},
		{"a part one ms longer fits", 134 * ms, 134 * ms, 134 * ms},
		{"a part one ms shorter keeps it", 134 * ms, 133 * ms, 134 * ms},
		{"started on the longer one", 135 * ms, 133 * ms, 135 * ms},
		{"a longer part raises it", 134 * ms, 135 * ms, 136 * ms},
		{"a much longer part raises it", 134 * ms, 300 * ms, 301 * ms},
		{"the long part left the window", 301 * ms, 134 * ms, 135 * ms},
	} {
		if got := steadyPartTarget(c.cur, c.longest, ms); got != c.want {
			t.Errorf("%s: steadyPartTarget(%v, %v) = %v, want %v", c.name, c.cur, c.longest, got, c.want)
		}
	}
}
