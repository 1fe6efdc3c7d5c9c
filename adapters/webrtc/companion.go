package webrtc

import (
	"context"
	"errors"
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

// startCompanion starts the goroutine that sends the Opus companion, if
// any. It ends with the session or the companion stream.
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
		r, err := s.Subscribe()
		if err != nil {
			pl.log.Info("the Opus companion ended: playing the video only", "err", err)
			return
		}
		defer r.Close()
		pl.pumpCompanion(r)
	})
}

// setAnchor publishes the anchor chosen by the video pump. Called once.
func (pl *player) setAnchor(a time.Duration) {
	pl.anchor, pl.anchorWall = a, time.Now()
	close(pl.anchored)
}

// pumpCompanion sends the companion's Opus packets. Their timestamps are
// the source's, so they are measured from the video's anchor, as the
// source's own audio would be: lip sync as in the source.
func (pl *player) pumpCompanion(r *media.Reader) {
	select {
	case <-pl.anchored:
	case <-pl.ctx.Done():
		return
	}
	anchor, skewLogged := pl.anchor, false
	for {
		u, err := r.Next(pl.ctx)
		if err != nil {
			if pl.ctx.Err() == nil && (errors.Is(err, media.ErrStreamClosed) || errors.Is(err, media.ErrReaderClosed)) {
				pl.log.Debug("the Opus companion ended")
			}
			return
		}
		if u.Track != 0 || u.PTS < anchor {
			continue // older than the first picture
		}
		if d := u.PTS - anchor; !skewLogged && d >= skewAfter {
			// The video of PTS p leaves about anchorWall + (p - anchor).
			skewLogged = true
			pl.log.Debug("Opus companion audio lag behind the video", "lag", (time.Since(pl.anchorWall) - d).Round(time.Millisecond))
		}
		pl.check(pl.audio.out.write(u.Data, pl.audio.base+rtpTicks(u.PTS-anchor, pl.audio.clock)))
	}
}
