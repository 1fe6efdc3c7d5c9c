// Package ffmpegtest makes real test media with ffmpeg (H.264 with AAC or Opus) as Colony media units, for transcoder tests.
package ffmpegtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/opus"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"

	"github.com/colony-live/colony/core/codec"
	"github.com/colony-live/colony/core/media"
)

// ClipConfig describes a clip. Zero fields take the defaults.
type ClipConfig struct {
	Width, Height int           // default 640x360
	FPS           int           // default 30
	Duration      time.Duration // default 6 s
	GOP           time.Duration // keyframe interval, default 1 s
	VideoBitrate  int           // default 1.5 Mb/s
	BFrames       int           // consecutive B-frames in the source (default 0)
	NoVideo       bool
	Audio         media.Codec // media.AAC (default), media.Opus, or "none"
}

// Clip is a clip's tracks and units, in decoding order, with timestamps
// starting at zero.
type Clip struct {
	Tracks []media.Track
	Units  []*media.Unit
}

// Make encodes a clip with ffmpeg into t.TempDir() and reads it back.
func Make(t testing.TB, cfg ClipConfig) Clip {
	t.Helper()
	cfg = cfg.withDefaults()
	path := filepath.Join(t.TempDir(), "clip.ts")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "ffmpeg", cfg.args(path)...)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("ffmpeg: %v: %s", err, stderr.String())
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c, err := Read(f)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (c ClipConfig) withDefaults() ClipConfig {
	if c.Width == 0 {
		c.Width, c.Height = 640, 360
	}
	if c.FPS == 0 {
		c.FPS = 30
	}
	if c.Duration == 0 {
		c.Duration = 6 * time.Second
	}
	if c.GOP == 0 {
		c.GOP = time.Second
	}
	if c.VideoBitrate == 0 {
		c.VideoBitrate = 1_500_000
	}
	if c.Audio == "" {
		c.Audio = media.AAC
	}
	return c
}

func (c ClipConfig) args(path string) []string {
	secs := strconv.FormatFloat(c.Duration.Seconds(), 'f', 3, 64)
	a := []string{"-hide_banner", "-nostdin", "-loglevel", "error", "-y"}
	if !c.NoVideo {
		a = append(a, "-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%dx%d:rate=%d,noise=alls=12:allf=t", c.Width, c.Height, c.FPS))
	}
	if c.Audio != "none" {
		a = append(a, "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000")
	}
	a = append(a, "-t", secs)
	if !c.NoVideo {
		gop := strconv.Itoa(int(c.GOP.Seconds() * float64(c.FPS)))
		bf := max(c.BFrames, 0)
		br := strconv.Itoa(c.VideoBitrate)
		a = append(a, "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-g", gop, "-keyint_min", gop,
			"-sc_threshold", "0", "-bf", strconv.Itoa(bf), "-b:v", br, "-maxrate", br, "-bufsize", br)
	}
	switch c.Audio {
	case media.AAC:
		a = append(a, "-c:a", "aac", "-b:a", "96k", "-ac", "2")
	case media.Opus:
		a = append(a, "-c:a", "libopus", "-b:a", "64k", "-ac", "2")
	}
	return append(a, "-f", "mpegts", path)
}

// Read reads an MPEG-TS clip (H.264, AAC, Opus) into media units.
func Read(r io.Reader) (Clip, error) {
	rd := &mpegts.Reader{R: r}
	if err := rd.Initialize(); err != nil {
		return Clip{}, err
	}
	type raw struct {
		u        *media.Unit
		pts, dts int64
	}
	var units []raw
	var c Clip
	for _, t := range rd.Tracks() {
		idx := len(c.Tracks)
		switch tc := t.Codec.(type) {
		case *mpegts.CodecH264:
			c.Tracks = append(c.Tracks, media.Track{Codec: media.H264, ClockRate: 90000})
			rd.OnDataH264(t, func(pts, dts int64, au [][]byte) error {
				var kept [][]byte
				key := false
				for _, n := range au {
					switch codec.NALUType(n) {
					case codec.NALUAUD:
						continue
					case codec.NALUSPS:
						if c.Tracks[idx].SPS == nil {
							c.Tracks[idx].SPS = append([]byte(nil), n...)
						}
					case codec.NALUPPS:
						if c.Tracks[idx].PPS == nil {
							c.Tracks[idx].PPS = append([]byte(nil), n...)
						}
					case codec.NALUIDR:
						key = true
					}
					kept = append(kept, n)
				}
				units = append(units, raw{&media.Unit{Track: idx, Key: key, Data: codec.JoinAVCC(kept)}, pts, dts})
				return nil
			})
		case *mpegts.CodecMPEG4Audio:
			conf, err := tc.Config.Marshal()
			if err != nil {
				return Clip{}, err
			}
			sr := tc.Config.SampleRate
			c.Tracks = append(c.Tracks, media.Track{Codec: media.AAC, ClockRate: sr, Config: conf, SampleRate: sr, Channels: int(tc.Config.ChannelConfig)})
			rd.OnDataMPEG4Audio(t, func(pts int64, aus [][]byte) error {
				for i, au := range aus {
					p := pts + int64(i)*1024*90000/int64(sr)
					units = append(units, raw{&media.Unit{Track: idx, Key: true, Data: au}, p, p})
				}
				return nil
			})
		case *mpegts.CodecOpus:
			c.Tracks = append(c.Tracks, media.Track{Codec: media.Opus, ClockRate: 48000, SampleRate: 48000, Channels: 2})
			rd.OnDataOpus(t, func(pts int64, pkts [][]byte) error {
				for _, p := range pkts {
					units = append(units, raw{&media.Unit{Track: idx, Key: true, Data: p}, pts, pts})
					pts += opus.PacketDuration2(p) * 90000 / 48000
				}
				return nil
			})
		default:
			return Clip{}, fmt.Errorf("unexpected codec %T", t.Codec)
		}
	}
	for {
		if err := rd.Read(); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return Clip{}, err
		}
	}
	if len(units) == 0 {
		return Clip{}, errors.New("empty clip")
	}
	zero := units[0].dts
	for _, u := range units {
		zero = min(zero, u.dts)
	}
	sort.SliceStable(units, func(i, j int) bool { return units[i].dts < units[j].dts })
	for i := range c.Tracks {
		if c.Tracks[i].Codec == media.H264 && c.Tracks[i].SPS != nil {
			w, h, err := codec.SPSSize(c.Tracks[i].SPS)
			if err != nil {
				return Clip{}, err
			}
			c.Tracks[i].Width, c.Tracks[i].Height = w, h
		}
	}
	for _, r := range units {
		r.u.PTS = ticks(r.pts - zero)
		r.u.DTS = ticks(r.dts - zero)
		c.Units = append(c.Units, r.u)
	}
	return c, nil
}

func ticks(t int64) time.Duration { return time.Duration(t) * time.Second / 90000 }

// Play writes the clip's units to s at speed times real time (by DTS),
// then returns; it returns early with ctx's error.
func (c Clip) Play(ctx context.Context, s *media.Stream, speed float64) error {
	start := time.Now()
	for _, u := range c.Units {
		due := start.Add(time.Duration(float64(u.DTS) / speed))
		if d := time.Until(due); d > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(d):
			}
		}
		s.Write(u)
	}
	return nil
}

// Keyframes returns the PTS of the video keyframes of units on track.
func Keyframes(units []*media.Unit, track int) []time.Duration {
	var ks []time.Duration
	for _, u := range units {
		if u.Track == track && u.Key {
			ks = append(ks, u.PTS)
		}
	}
	return ks
}
