package webrtc

import (
	"context"
	"fmt"
	"time"

	"github.com/colony-live/colony/core/media"
)

// skewAfter is how far into the companion audio a viewer's audio lag
// behind its video is logged (after the start-up backlog).
const skewAfter = 3 * time.Second

// companion returns the Opus companion of the stream's AAC audio
// (Config.Audio), or nil, saying why, when there is none: the viewer then
// gets the video only.
func (pl *player) companion(ctx context.Context) *media.Stream {
	audio := pl.srv.cfg.Audio
	if audio == nil {
		pl.log.Info("AAC audio is not sent over WebRTC without a transcoder: playing the video only")
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, pl.srv.cfg.AudioTimeout)
	defer cancel()
	start := time.Now()
	s, err := audio.OpusFor(ctx, pl.key)
	if err == nil && (len(s.Tracks()) == 0 || s.Tracks()[0].Codec != media.Opus) {
		err = fmt.Errorf("the companion stream has tracks %s, want Opus", trackList(s.Tracks()))
	}
	if err != nil {
		pl.log.Info("AAC audio cannot be bridged to Opus: playing the video only", "err", err)
		return nil
	}
	pl.log.Debug("AAC audio bridged to Opus", "wait", time.Since(start).Round(time.Millisecond))
	return s
}

// startCompanion starts the goroutine that joins the viewer to the
// fan-out of the Opus companion (livefanout.go), if any, once the video
// anchor is set, and leaves it when the session ends.
func (pl *player) startCompanion() {
	if pl.opus == nil && !pl.lazyOpus {
		return
	}
	pl.goTracked(func() {
		s := pl.opus
		if s == nil {
			if s = pl.companion(pl.ctx); s == nil {
				return
			}
		}
		select {
		case <-pl.anchored:
		case <-pl.ctx.Done():
			return
		}
		f, m, err := pl.srv.joinCompanion(s, pl)
		if err != nil {
			pl.log.Info("the Opus companion ended: playing the video only", "err", err)
			return
		}
		select {
		case <-pl.ctx.Done():
		case <-f.ended:
			pl.log.Debug("the Opus companion ended")
		}
		pl.srv.leave(f, m)
	})
}

// setAnchor publishes the anchor chosen by the video pump. Called once.
func (pl *player) setAnchor(a time.Duration) {
	pl.anchor, pl.anchorWall = a, time.Now()
	close(pl.anchored)
}
