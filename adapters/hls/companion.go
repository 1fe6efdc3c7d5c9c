package hls

import (
	"context"
	"slices"

	"github.com/colony-live/colony/core/media"
)

// AAC companions: a WebRTC publication's audio is Opus, which Safari, iOS
// and many other HLS players cannot play (and MPEG-TS cannot carry). When
// Config.Companions is set and Config.Audio is not AudioOpus, the muxer of
// such a stream waits (at most CompanionTimeout) for the stream's AAC
// companion, the Opus re-encoded by the transcoder plugin, and carries it
// in place of the Opus track, written from a second reader under the same
// lock as the source's units and with the same timestamps. Without a
// companion in time it carries the Opus itself (AudioAuto) or no audio
// (AudioAAC), and logs why.

// companionTrack returns the index of the Opus track an AAC companion
// should replace, or -1.
func companionTrack(cfg Config, tracks []media.Track) int {
	if cfg.Companions == nil || cfg.Audio == AudioOpus {
		return -1
	}
	for i, t := range tracks {
		switch t.Codec {
		case media.AAC:
			return -1 // AAC audio already: nothing to bridge
		case media.Opus:
			return i
		}
	}
	return -1
}

// startWithCompanion waits for the AAC companion and starts the muxer
// with it, or without it; false if the muxer could not start.
func (sm *streamMuxer) startWithCompanion() bool {
	ctx, cancel := context.WithTimeout(sm.ctx, sm.cfg.CompanionTimeout)
	aac, err := sm.companions.AACFor(ctx, sm.key)
	cancel()
	if sm.ctx.Err() != nil {
		return false // ended or closed meanwhile
	}
	tracks, drop := slices.Clone(sm.src.Tracks()), -1
	if err == nil {
		ct := aac.Tracks()
		if len(ct) == 1 && ct[0].Codec == media.AAC {
			if sm.companion, err = aac.Subscribe(); err == nil {
				tracks[sm.opus] = ct[0]
			}
		} else {
			err = errNoCompanionTrack
		}
	}
	switch {
	case err == nil:
		sm.log.Info("HLS carries the AAC companion of the Opus audio")
	case sm.cfg.Audio == AudioAAC:
		sm.log.Warn("HLS without audio: no AAC companion of the Opus audio", "err", err)
		drop = sm.opus
	default:
		sm.log.Warn("HLS carries the Opus audio: no AAC companion", "err", err)
	}
	if err := sm.start(tracks, drop); err != nil {
		if sm.companion != nil {
			sm.companion.Close()
		}
		sm.log.Warn("stream not muxed", "err", err)
		return false
	}
	return true
}

// writeCompanion writes a unit of the AAC companion as the Opus track.
func (sm *streamMuxer) writeCompanion(u *media.Unit) error {
	if u.Track != 0 {
		return nil
	}
	return sm.writeAs(sm.opus, u)
}
