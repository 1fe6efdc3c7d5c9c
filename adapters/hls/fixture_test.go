package hls

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	tscodecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"

	"github.com/colony-live/colony/core/codec"
	"github.com/colony-live/colony/core/media"
)

// clipDuration is the length of the test clip: a multiple of both the
// video frame (1/30 s) and the AAC frame (1024/48000 s), so that the clip
// loops without a timestamp gap.
const clipDuration = 3200 * time.Millisecond

// clip is a short H.264 + AAC recording, shaped as RTMP ingest delivers it:
// AVCC video without in-band SPS/PPS, raw AAC frames, timestamps from 0.
type clip struct {
	tracks []media.Track
	units  []media.Unit // in DTS order
}

var (
	clipOnce sync.Once
	clipData clip
	clipErr  error
)

// testClip encodes (once per test binary) a 320x240 30 fps H.264 clip with
// B-frames and a 1 s GOP, and 48 kHz AAC, with ffmpeg.
func testClip(t testing.TB) clip {
	t.Helper()
	clipOnce.Do(func() { clipData, clipErr = makeClip() })
	if clipErr != nil {
		t.Fatalf("test clip: %v", clipErr)
	}
	return clipData
}

func makeClip() (clip, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error",
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", "4", "-c:v", "libx264", "-preset", "ultrafast", "-bf", "2", "-g", "30",
		"-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k", "-ac", "2", "-f", "mpegts", "-")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return clip{}, errors.New("ffmpeg: " + err.Error() + ": " + stderr.String())
	}
	return parseClip(out)
}

func parseClip(ts []byte) (clip, error) {
	r := &mpegts.Reader{R: bytes.NewReader(ts)}
	if err := r.Initialize(); err != nil {
		return clip{}, err
	}
	var c clip
	var units []media.Unit
	toDur := func(v int64) time.Duration { return time.Duration(v) * time.Second / 90000 }
	for _, tr := range r.Tracks() {
		switch tc := tr.Codec.(type) {
		case *tscodecs.H264:
			idx := len(c.tracks)
			c.tracks = append(c.tracks, media.Track{Codec: media.H264, ClockRate: 90000})
			r.OnDataH264(tr, func(pts, dts int64, au [][]byte) error {
				var keep [][]byte
				for _, n := range au {
					switch codec.NALUType(n) {
					case codec.NALUSPS:
						if c.tracks[idx].SPS == nil {
							c.tracks[idx].SPS = append([]byte(nil), n...)
						}
					case codec.NALUPPS:
						if c.tracks[idx].PPS == nil {
							c.tracks[idx].PPS = append([]byte(nil), n...)
						}
					case codec.NALUAUD:
					default:
						keep = append(keep, n)
					}
				}
				units = append(units, media.Unit{Track: idx, PTS: toDur(pts), DTS: toDur(dts),
					Key: codec.ContainsIDR(keep), Data: codec.JoinAVCC(keep)})
				return nil
			})
		case *tscodecs.MPEG4Audio:
			idx := len(c.tracks)
			conf, err := tc.Config.Marshal()
			if err != nil {
				return clip{}, err
			}
			rate := tc.Config.SampleRate
			c.tracks = append(c.tracks, media.Track{Codec: media.AAC, ClockRate: rate, Config: conf,
				SampleRate: rate, Channels: tc.Config.ChannelCount})
			r.OnDataMPEG4Audio(tr, func(pts int64, aus [][]byte) error {
				for i, au := range aus {
					p := toDur(pts) + time.Duration(i)*1024*time.Second/time.Duration(rate)
					units = append(units, media.Unit{Track: idx, PTS: p, DTS: p, Key: true,
						Data: append([]byte(nil), au...)})
				}
				return nil
			})
		}
	}
	for {
		if err := r.Read(); err != nil {
			break // end of input
		}
	}
	if len(c.tracks) != 2 || c.tracks[0].SPS == nil {
		return clip{}, errors.New("clip lacks H.264 with SPS or AAC")
	}
	w, h, err := codec.SPSSize(c.tracks[0].SPS)
	if err != nil {
		return clip{}, err
	}
	c.tracks[0].Width, c.tracks[0].Height = w, h
	// Start at the first keyframe, timestamps from 0, one clipDuration long.
	var base time.Duration = -1
	for _, u := range units {
		if u.Track == 0 && u.Key {
			base = u.DTS
			break
		}
	}
	if base < 0 {
		return clip{}, errors.New("clip has no keyframe")
	}
	for _, u := range units {
		u.PTS -= base
		u.DTS -= base
		if u.DTS < 0 || u.DTS >= clipDuration || u.PTS >= clipDuration+time.Second {
			continue
		}
		c.units = append(c.units, u)
	}
	sort.SliceStable(c.units, func(i, j int) bool { return c.units[i].DTS < c.units[j].DTS })
	return c, nil
}

// feed writes the clip to s in a loop, paced in real time after a first
// burst of burst worth of media, until ctx is done.
func feed(ctx context.Context, s *media.Stream, c clip, burst time.Duration) {
	start := time.Now()
	for loop := 0; ; loop++ {
		off := time.Duration(loop) * clipDuration
		for _, u := range c.units {
			u.PTS += off
			u.DTS += off
			if !waitDue(ctx, start, u.DTS-burst) {
				return
			}
			u.Ingest = time.Now()
			s.Write(&u)
		}
	}
}

// waitDue waits until start+at, the time a unit is due in real time; it
// reports false if ctx ended first.
func waitDue(ctx context.Context, start time.Time, at time.Duration) bool {
	wait := time.Until(start.Add(at))
	if wait <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
