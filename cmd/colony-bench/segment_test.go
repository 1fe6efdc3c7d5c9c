package main

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	tscodecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"
)

const testClipPath = "../../testdata/clip-720p30.mp4"

var (
	clipOnce sync.Once
	clipVal  *clip
	clipErr  error
)

// testClip loads the repository's test clip once per test binary.
func testClip(t testing.TB) *clip {
	t.Helper()
	clipOnce.Do(func() { clipVal, clipErr = loadClip(testClipPath) })
	if clipErr != nil {
		t.Fatalf("test clip: %v", clipErr)
	}
	return clipVal
}

func TestLoadClip(t *testing.T) {
	c := testClip(t)
	var video, audio, keys int
	for _, s := range c.samples {
		if s.video {
			video++
			if s.key {
				keys++
			}
		} else {
			audio++
		}
	}
	if len(c.sps) < 4 || c.pps == nil || c.audioConfig == nil {
		t.Fatalf("tracks: sps %d bytes, pps %d, audio config %v", len(c.sps), len(c.pps), c.audioConfig)
	}
	if video != 240 || keys != 8 || audio != 375 || c.duration != 8*time.Second {
		t.Fatalf("clip: %d video (%d keys), %d audio, %v; want 240 (8), 375, 8s", video, keys, audio, c.duration)
	}
	if !c.samples[0].video || !c.samples[0].key {
		t.Fatal("clip does not start with a keyframe")
	}
}

// stampedFrames returns n video access units of the clip, stamped with
// 1000+i, as NAL units with SPS and PPS before keyframes.
func stampedFrames(t *testing.T, n int) (aus [][][]byte, keys []bool) {
	c := testClip(t)
	for _, s := range c.samples {
		if !s.video {
			continue
		}
		if len(aus) == n {
			break
		}
		au := stampAVCC(s.data, int64(1000+len(aus)))
		var nalus [][]byte
		if s.key {
			nalus = append(nalus, c.sps, c.pps)
		}
		for b := au; len(b) >= 4; {
			l := int(b[0])<<24 | int(b[1])<<16 | int(b[2])<<8 | int(b[3])
			nalus = append(nalus, b[4:4+l])
			b = b[4+l:]
		}
		aus = append(aus, nalus)
		keys = append(keys, s.key)
	}
	return aus, keys
}

func checkFrames(t *testing.T, got []mediaFrame, keys []bool, base time.Duration) {
	t.Helper()
	if len(got) != len(keys) {
		t.Fatalf("%d frames, want %d", len(got), len(keys))
	}
	for i, f := range got {
		wantPTS := base + time.Duration(i)*time.Second/30
		if d := f.pts - wantPTS; d < -time.Millisecond || d > time.Millisecond {
			t.Fatalf("frame %d pts %v, want %v", i, f.pts, wantPTS)
		}
		if !f.info.stamped || f.info.stamp != int64(1000+i) || f.info.key != keys[i] {
			t.Fatalf("frame %d info %+v, want stamp %d key %v", i, f.info, 1000+i, keys[i])
		}
	}
}

func TestTSFrames(t *testing.T) {
	aus, keys := stampedFrames(t, 45)
	video := &mpegts.Track{Codec: &tscodecs.H264{}}
	audio := &mpegts.Track{Codec: &tscodecs.MPEG4Audio{Config: mpeg4audio.AudioSpecificConfig{
		Type: mpeg4audio.ObjectTypeAACLC, SampleRate: 48000, ChannelCount: 2}}}
	var buf bytes.Buffer
	w := &mpegts.Writer{W: &buf, Tracks: []*mpegts.Track{audio, video}}
	if err := w.Initialize(); err != nil {
		t.Fatal(err)
	}
	base := int64(90000 * 20)
	for i, au := range aus {
		pts := base + int64(i)*3000
		if err := w.WriteH264(video, pts, pts, au); err != nil {
			t.Fatal(err)
		}
		if err := w.WriteMPEG4Audio(audio, pts, [][]byte{{0x21, 0x10, 0x05}}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := tsFrames(buf.Bytes(), nil)
	if err != nil {
		t.Fatal(err)
	}
	checkFrames(t, got, keys, 20*time.Second)

	if _, err := tsFrames(append([]byte{0x46}, buf.Bytes()[1:]...), nil); err == nil {
		t.Fatal("no error for a segment out of sync")
	}
	var ab bytes.Buffer
	aw := &mpegts.Writer{W: &ab, Tracks: []*mpegts.Track{audio}}
	if err := aw.Initialize(); err != nil {
		t.Fatal(err)
	}
	if err := aw.WriteMPEG4Audio(audio, 0, [][]byte{{0x21, 0x10, 0x05}}); err != nil {
		t.Fatal(err)
	}
	if _, err := tsFrames(ab.Bytes(), nil); err == nil {
		t.Fatal("no error for a segment without video")
	}
}

func TestFMP4Frames(t *testing.T) {
	c := testClip(t)
	aus, keys := stampedFrames(t, 40)
	var ib seekablebuffer.Buffer
	in := fmp4.Init{Tracks: []*fmp4.InitTrack{
		{ID: 1, TimeScale: 48000, Codec: &codecs.MPEG4Audio{Config: mpeg4audio.AudioSpecificConfig{
			Type: mpeg4audio.ObjectTypeAACLC, SampleRate: 48000, ChannelCount: 2}}},
		{ID: 2, TimeScale: 90000, Codec: &codecs.H264{SPS: c.sps, PPS: c.pps}},
	}}
	if err := in.Marshal(&ib); err != nil {
		t.Fatal(err)
	}
	vid, err := parseInit(ib.Bytes())
	if err != nil || vid.trackID != 2 || vid.timeScale != 90000 {
		t.Fatalf("parseInit = %+v, %v", vid, err)
	}
	var media []byte
	for p := 0; p < 2; p++ { // a segment of two parts
		pt := &fmp4.PartTrack{ID: 2, BaseTime: uint64(90000*30 + p*20*3000)}
		for i := p * 20; i < (p+1)*20; i++ {
			var s fmp4.Sample
			if err := s.FillH264(0, aus[i]); err != nil {
				t.Fatal(err)
			}
			s.Duration = 3000
			s.IsNonSyncSample = !keys[i]
			pt.Samples = append(pt.Samples, &s)
		}
		var pb seekablebuffer.Buffer
		part := fmp4.Part{SequenceNumber: uint32(p + 1), Tracks: []*fmp4.PartTrack{
			{ID: 1, BaseTime: 0, Samples: []*fmp4.Sample{{Duration: 1024, Payload: []byte{1, 2}}}}, pt}}
		if err := part.Marshal(&pb); err != nil {
			t.Fatal(err)
		}
		media = append(media, pb.Bytes()...)
	}
	got, err := vid.frames(media, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkFrames(t, got, keys, 30*time.Second)

	var ab seekablebuffer.Buffer
	audioOnly := fmp4.Init{Tracks: in.Tracks[:1]}
	if err := audioOnly.Marshal(&ab); err != nil {
		t.Fatal(err)
	}
	if _, err := parseInit(ab.Bytes()); err == nil {
		t.Fatal("no error for an audio-only init segment")
	}
}

func FuzzTSFrames(f *testing.F) {
	f.Add(make([]byte, 188))
	f.Add(append([]byte{0x47, 0x40, 0, 0x10, 0}, make([]byte, 183)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = tsFrames(b, nil)
	})
}

func FuzzFMP4Frames(f *testing.F) {
	f.Add([]byte{0, 0, 0, 8, 'm', 'o', 'o', 'f'})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = fmp4Video{trackID: 1, timeScale: 90000}.frames(b, nil)
		_, _ = parseInit(b)
	})
}
