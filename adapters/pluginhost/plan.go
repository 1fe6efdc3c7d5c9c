package pluginhost

import (
	"fmt"
	"strings"
	"time"

	"github.com/colony-live/colony/core/codec"
	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/core/stream"
	transcoderv1 "github.com/colony-live/colony/plugins/transcoder/v1"
	"github.com/colony-live/colony/ports"
)

// plan is how a session maps its source onto a plugin: which source tracks
// are fed, and which renditions come back.
type plan struct {
	renditions []ports.Rendition // Stream is set once the tracks are known
	rungs      []*transcoderv1.Rung
	tracks     []*transcoderv1.Track // the tracks fed, as the plugin sees them
	wire       []int                 // source track index -> index in tracks, -1 when not fed
	video      int                   // source index of the fed video track, -1 if none
	skipped    []string              // why rungs were left out
}

// resumePoint reports whether a plugin may start at u: a video keyframe,
// or any audio unit when no video is fed.
func (p *plan) resumePoint(u *media.Unit) bool {
	if p.video >= 0 {
		return u.Track == p.video && u.Key
	}
	return true
}

// sourceSize returns a video track's picture size, from its SPS when the
// track does not say.
func sourceSize(t media.Track) (w, h int, err error) {
	if t.Width > 0 && t.Height > 0 {
		return t.Width, t.Height, nil
	}
	if len(t.SPS) == 0 {
		return 0, 0, fmt.Errorf("%w: video size unknown (no SPS)", ErrUnsupportedSource)
	}
	w, h, err = codec.SPSSize(t.SPS)
	if err != nil {
		return 0, 0, fmt.Errorf("%w: %w", ErrUnsupportedSource, err)
	}
	return w, h, nil
}

// pickTracks finds the first video and the first AAC/Opus audio track.
func pickTracks(tracks []media.Track) (video, audio int) {
	video, audio = -1, -1
	for i, t := range tracks {
		switch {
		case t.IsVideo() && video < 0:
			video = i
		case (t.Codec == media.AAC || t.Codec == media.Opus) && audio < 0:
			audio = i
		}
	}
	return video, audio
}

func newPlan(tracks []media.Track, feed ...int) *plan {
	p := &plan{wire: make([]int, len(tracks)), video: -1}
	for i := range p.wire {
		p.wire[i] = -1
	}
	for _, i := range feed {
		if i < 0 {
			continue
		}
		p.wire[i] = len(p.tracks)
		p.tracks = append(p.tracks, wireTrack(tracks[i]))
	}
	return p
}

// planLadder keeps the rungs that do not upscale the source. A rung taller
// than the source is skipped, unless ForceEncode is set: then it is encoded
// at the source's height, if no other rung has that height. Rungs of equal
// height after that are kept once.
func planLadder(tracks []media.Track, ladder []stream.Rendition) (*plan, error) {
	video, audio := pickTracks(tracks)
	if video < 0 {
		return nil, fmt.Errorf("%w: no video track", ErrUnsupportedSource)
	}
	if tracks[video].Codec != media.H264 {
		return nil, fmt.Errorf("%w: video codec %s (H264 only)", ErrUnsupportedSource, tracks[video].Codec)
	}
	sw, sh, err := sourceSize(tracks[video])
	if err != nil {
		return nil, err
	}
	p := newPlan(tracks, video, audio)
	p.video = video
	p.tracks[p.wire[video]].Width, p.tracks[p.wire[video]].Height = uint32(sw), uint32(sh)
	heights := map[int]bool{}
	for _, r := range ladder {
		if r.Height > 0 && r.Height <= sh {
			heights[r.Height&^1] = true
		}
	}
	seen := map[int]bool{}
	for _, r := range ladder {
		h := r.Height &^ 1
		switch {
		case r.Height <= 0 || r.VideoBitrate <= 0:
			p.skipped = append(p.skipped, fmt.Sprintf("rung %+v: no height or no video bitrate", r))
			continue
		case r.Height > sh && !r.ForceEncode:
			p.skipped = append(p.skipped, fmt.Sprintf("%dp: would upscale the %dp source", r.Height, sh))
			continue
		case r.Height > sh && heights[sh&^1]:
			p.skipped = append(p.skipped, fmt.Sprintf("%dp: forced, but the source's %dp is already a rung", r.Height, sh))
			continue
		case r.Height > sh:
			h = sh &^ 1
		}
		if seen[h] {
			p.skipped = append(p.skipped, fmt.Sprintf("%dp: duplicate height", h))
			continue
		}
		seen[h] = true
		w := (sw*h/sh + 1) &^ 1
		name := fmt.Sprintf("%dp", h)
		eff := r
		eff.Height = h
		p.renditions = append(p.renditions, ports.Rendition{Name: name, Rung: eff})
		p.rungs = append(p.rungs, &transcoderv1.Rung{Name: name, Width: uint32(w), Height: uint32(h),
			VideoBitrate: uint32(r.VideoBitrate), AudioBitrate: uint32(max(r.AudioBitrate, 0)), AudioCodec: string(media.AAC)})
	}
	if len(p.rungs) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrNoRenditions, strings.Join(p.skipped, "; "))
	}
	return p, nil
}

// planBridge feeds only the source's audio and asks for one audio-only
// rendition in codec to.
func planBridge(tracks []media.Track, to media.Codec, bitrate int, opusFrame time.Duration) (*plan, error) {
	if to != media.Opus && to != media.AAC {
		return nil, fmt.Errorf("%w: cannot bridge audio to %s", ErrUnsupportedSource, to)
	}
	_, audio := pickTracks(tracks)
	if audio < 0 {
		return nil, fmt.Errorf("%w: no AAC or Opus audio track", ErrUnsupportedSource)
	}
	p := newPlan(tracks, audio)
	name := strings.ToLower(string(to))
	p.renditions = []ports.Rendition{{Name: name, Rung: stream.Rendition{AudioBitrate: bitrate}}}
	r := &transcoderv1.Rung{Name: name, AudioCodec: string(to), AudioBitrate: uint32(max(bitrate, 0))}
	if to == media.Opus {
		r.AudioFrameMs = uint32(opusFrame / time.Millisecond)
	}
	p.rungs = []*transcoderv1.Rung{r}
	return p, nil
}
