package ffmpeg

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/opus"

	"github.com/colony-live/colony/core/codec"
	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/plugins/ffmpeg/ffmpegtest"
	transcoderv1 "github.com/colony-live/colony/plugins/transcoder/v1"
)

func wireTrack(t media.Track) *transcoderv1.Track {
	return &transcoderv1.Track{Codec: string(t.Codec), ClockRate: uint32(t.ClockRate), Sps: t.SPS, Pps: t.PPS,
		Config: t.Config, Width: uint32(t.Width), Height: uint32(t.Height), SampleRate: uint32(t.SampleRate), Channels: uint32(t.Channels)}
}

func wireUnit(u *media.Unit) *transcoderv1.Unit {
	return &transcoderv1.Unit{Track: uint32(u.Track), Pts: int64(u.PTS), Dts: int64(u.DTS), Key: u.Key, Data: u.Data}
}

type rendition struct {
	tracks []*transcoderv1.Track
	units  []*transcoderv1.Unit
}

// transcode runs one session over units as fast as ffmpeg goes.
func transcode(t *testing.T, start *transcoderv1.Start, units []*media.Unit) []rendition {
	t.Helper()
	p, err := New(Config{Profile: Software()})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := p.Transcode(ctx, start)
	if err != nil {
		t.Fatal(err)
	}
	sendErr := make(chan error, 1)
	go func() {
		for _, u := range units {
			if err := s.Send(wireUnit(u)); err != nil {
				sendErr <- err
				return
			}
		}
		sendErr <- s.CloseSend()
	}()
	out := make([]rendition, len(start.Ladder))
	for {
		r, err := s.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch m := r.Msg.(type) {
		case *transcoderv1.TranscodeResponse_Tracks:
			out[m.Tracks.Rendition].tracks = m.Tracks.Tracks
		case *transcoderv1.TranscodeResponse_Unit:
			o := &out[m.Unit.Rendition]
			if o.tracks == nil {
				t.Fatalf("unit of rendition %d before its tracks", m.Unit.Rendition)
			}
			o.units = append(o.units, m.Unit.Unit)
		}
	}
	if err := <-sendErr; err != nil {
		t.Fatal(err)
	}
	return out
}

func TestTranscodeLadderKeepsTimestampsAndKeyframes(t *testing.T) {
	clip := ffmpegtest.Make(t, ffmpegtest.ClipConfig{Duration: 4 * time.Second, BFrames: 2})
	start := &transcoderv1.Start{
		Session: "test",
		Tracks:  []*transcoderv1.Track{wireTrack(clip.Tracks[0]), wireTrack(clip.Tracks[1])},
		Ladder: []*transcoderv1.Rung{
			{Name: "360p", Height: 360, VideoBitrate: 800_000},
			{Name: "240p", Height: 240, VideoBitrate: 400_000},
			{Name: "opus", AudioCodec: codecOpus, AudioBitrate: 48_000},
		},
		Options: &transcoderv1.Options{CopyAudio: true},
	}
	out := transcode(t, start, clip.Units)

	srcPTS := map[time.Duration]bool{}
	var srcKeys []time.Duration
	srcAudio := map[time.Duration]bool{}
	var nVideo int
	for _, u := range clip.Units {
		if u.Track == 0 {
			srcPTS[us(u.PTS)] = true
			nVideo++
			if u.Key {
				srcKeys = append(srcKeys, us(u.PTS))
			}
		} else {
			srcAudio[us(u.PTS)] = true
		}
	}
	for i, want := range []struct{ w, h int }{{640, 360}, {426, 240}} {
		r := out[i]
		if len(r.tracks) != 2 || r.tracks[0].Codec != codecH264 || r.tracks[1].Codec != codecAAC {
			t.Fatalf("rendition %d tracks = %v", i, r.tracks)
		}
		w, h, err := codec.SPSSize(r.tracks[0].Sps)
		if err != nil || w != want.w || h != want.h || r.tracks[0].Width != uint32(w) || r.tracks[0].Height != uint32(h) {
			t.Fatalf("rendition %d: SPS size %dx%d (%v), track %dx%d, want %dx%d", i, w, h, err, r.tracks[0].Width, r.tracks[0].Height, want.w, want.h)
		}
		var keys []time.Duration
		var frames, audio int
		for _, u := range r.units {
			if u.Track == 1 {
				audio++
				if !srcAudio[us(time.Duration(u.Pts))] {
					t.Fatalf("rendition %d: copied audio at %v is not a source timestamp", i, time.Duration(u.Pts))
				}
				continue
			}
			frames++
			if !srcPTS[us(time.Duration(u.Pts))] {
				t.Fatalf("rendition %d: frame at %v is not a source timestamp", i, time.Duration(u.Pts))
			}
			nalus, err := codec.SplitAVCC(nil, u.Data)
			if err != nil {
				t.Fatal(err)
			}
			if u.Key != codec.ContainsIDR(nalus) {
				t.Fatalf("rendition %d: key flag %v disagrees with the NAL units", i, u.Key)
			}
			if u.Key {
				keys = append(keys, us(time.Duration(u.Pts)))
			}
		}
		if frames != nVideo {
			t.Errorf("rendition %d: %d frames, source has %d", i, frames, nVideo)
		}
		// Audio that ffmpeg writes before the first video keyframe is
		// dropped (a reader of the rendition starts at a keyframe anyway).
		if audio < len(srcAudio)-5 || audio > len(srcAudio) {
			t.Errorf("rendition %d: %d audio units, source has %d", i, audio, len(srcAudio))
		}
		if !equalDurations(keys, srcKeys) {
			t.Errorf("rendition %d keyframes %v, source keyframes %v", i, keys, srcKeys)
		}
	}

	op := out[2]
	if len(op.tracks) != 1 || op.tracks[0].Codec != codecOpus || op.tracks[0].ClockRate != 48000 {
		t.Fatalf("opus rendition tracks = %v", op.tracks)
	}
	var total time.Duration
	prev := time.Duration(-1 << 62)
	for _, u := range op.units {
		d := opus.PacketDuration(u.Data)
		if d != 20*time.Millisecond {
			t.Fatalf("opus packet of %v, want 20ms (TOC %#x)", d, u.Data[0])
		}
		if time.Duration(u.Pts) <= prev {
			t.Fatalf("opus timestamps not increasing: %v after %v", time.Duration(u.Pts), prev)
		}
		prev = time.Duration(u.Pts)
		total += d
	}
	if total < 3800*time.Millisecond || total > 4200*time.Millisecond {
		t.Fatalf("opus rendition lasts %v, want about 4s", total)
	}
}

// TestOpusFrameDuration bridges a clip's AAC to Opus with each packet
// duration a rung may ask for: every packet ffmpeg makes lasts that long
// and follows the previous one by as much.
func TestOpusFrameDuration(t *testing.T) {
	clip := ffmpegtest.Make(t, ffmpegtest.ClipConfig{Duration: 2 * time.Second})
	for _, tt := range []struct {
		ask  uint32
		want time.Duration
	}{
		{0, 20 * time.Millisecond},
		{40, 40 * time.Millisecond},
		{60, 60 * time.Millisecond},
	} {
		t.Run(tt.want.String(), func(t *testing.T) {
			start := &transcoderv1.Start{
				Session: "test",
				Tracks:  []*transcoderv1.Track{wireTrack(clip.Tracks[0]), wireTrack(clip.Tracks[1])},
				Ladder:  []*transcoderv1.Rung{{Name: "opus", AudioCodec: codecOpus, AudioFrameMs: tt.ask}},
			}
			op := transcode(t, start, clip.Units)[0]
			if len(op.units) < 10 {
				t.Fatalf("%d Opus packets", len(op.units))
			}
			var total time.Duration
			for i, u := range op.units {
				if d := opus.PacketDuration(u.Data); d != tt.want {
					t.Fatalf("packet %d lasts %v, want %v (TOC %#x)", i, d, tt.want, u.Data[0])
				}
				if i > 0 {
					if gap := time.Duration(u.Pts - op.units[i-1].Pts); us(gap) != tt.want {
						t.Fatalf("packet %d %v after the previous one, want %v", i, gap, tt.want)
					}
				}
				total += tt.want
			}
			if total < 1800*time.Millisecond || total > 2200*time.Millisecond {
				t.Fatalf("the Opus rendition lasts %v, want about 2s", total)
			}
		})
	}
}

// us rounds d to the microsecond: source timestamps that are not on the
// 90 kHz grid come back within a nanosecond or two.
func us(d time.Duration) time.Duration { return d.Round(time.Microsecond) }

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
