package main

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/pmp4"
)

// errClip reports a clip the publisher cannot send.
var errClip = errors.New("unusable clip")

// clipSample is one access unit of the clip: AVCC video (no in-band SPS or
// PPS needed) or one raw AAC frame. Times are from the clip's start.
type clipSample struct {
	video    bool
	key      bool
	dts, pts time.Duration
	data     []byte
}

// clip is an H.264 (+ optional AAC) recording held in memory, its samples
// in DTS order, ready to be looped by the publisher.
type clip struct {
	sps, pps    []byte
	audioConfig []byte // AudioSpecificConfig; nil without audio
	samples     []clipSample
	duration    time.Duration // loop length: the video track's
}

// loadClip reads an MP4 file with an H.264 track and optionally an AAC one.
func loadClip(path string) (*clip, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("clip: %w", err)
	}
	defer f.Close()
	var p pmp4.Presentation
	if err := p.Unmarshal(f); err != nil {
		return nil, fmt.Errorf("clip %s: %w", path, err)
	}
	c := &clip{}
	for _, tr := range p.Tracks {
		switch codec := tr.Codec.(type) {
		case *codecs.H264:
			if c.sps != nil {
				continue
			}
			c.sps, c.pps = codec.SPS, codec.PPS
			if err := c.addTrack(tr, true); err != nil {
				return nil, err
			}
		case *codecs.MPEG4Audio:
			if c.audioConfig != nil {
				continue
			}
			conf, err := codec.Config.Marshal()
			if err != nil {
				return nil, fmt.Errorf("clip %s: AAC config: %w", path, err)
			}
			c.audioConfig = conf
			if err := c.addTrack(tr, false); err != nil {
				return nil, err
			}
		}
	}
	if len(c.sps) < 4 || c.pps == nil || c.duration <= 0 {
		return nil, fmt.Errorf("clip %s: %w: no H.264 track with SPS and PPS", path, errClip)
	}
	// Loop on the video track's length: an audio track a frame longer (AAC
	// priming) would otherwise leave a gap in the video at every loop.
	kept := c.samples[:0]
	for _, s := range c.samples {
		if s.video || s.dts < c.duration {
			kept = append(kept, s)
		}
	}
	c.samples = kept
	sort.SliceStable(c.samples, func(i, j int) bool { return c.samples[i].dts < c.samples[j].dts })
	if !c.samples[0].video || !c.samples[0].key {
		// Start at the first keyframe, so a loop never begins mid-GOP.
		first := -1
		for i, s := range c.samples {
			if s.video && s.key {
				first = i
				break
			}
		}
		if first < 0 {
			return nil, fmt.Errorf("clip %s: %w: no keyframe", path, errClip)
		}
		base := c.samples[first].dts
		kept = c.samples[:0]
		for _, s := range c.samples[first:] {
			s.dts -= base
			s.pts -= base
			kept = append(kept, s)
		}
		c.samples = kept
		c.duration -= base
	}
	return c, nil
}

// addTrack appends a track's samples, read into memory.
func (c *clip) addTrack(tr *pmp4.Track, video bool) error {
	if tr.TimeScale == 0 {
		return fmt.Errorf("%w: track %d has no time scale", errClip, tr.ID)
	}
	toDur := func(v int64) time.Duration {
		return time.Duration(v) * time.Second / time.Duration(tr.TimeScale)
	}
	dts := int64(tr.TimeOffset)
	for _, s := range tr.Samples {
		b, err := s.GetPayload()
		if err != nil {
			return fmt.Errorf("clip: track %d: %w", tr.ID, err)
		}
		c.samples = append(c.samples, clipSample{
			video: video,
			key:   !video || !s.IsNonSyncSample,
			dts:   toDur(dts),
			pts:   toDur(dts + int64(s.PTSOffset)),
			data:  b,
		})
		dts += int64(s.Duration)
	}
	if video {
		c.duration = toDur(dts)
	}
	return nil
}
