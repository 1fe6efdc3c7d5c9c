package webrtc

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/colony-live/colony/core/stream"
	"github.com/pion/rtcp"
)

// Renditions lists the live renditions of a stream (the engine's
// RenditionKeys): the automatic rendition choice of WebRTC viewers steps
// through them.
type Renditions interface {
	// RenditionKeys returns the keys {id}_{N}p of key's renditions that
	// are live, tallest first.
	RenditionKeys(ctx context.Context, key stream.Key) ([]stream.Key, error)
}

const (
	// ladderTTL is how long a viewer's automatic choice uses the list of
	// renditions it looked up.
	ladderTTL = 10 * time.Second
	// ladderTimeout bounds one look-up of the renditions.
	ladderTimeout = 3 * time.Second
)

// abrFeed keeps what the video's RTCP says between receiver reports.
type abrFeed struct {
	ssrc uint32
	remb float64
}

// observe turns the RTCP packets of the video sender into an observation
// for the automatic choice; ok is false when they hold no receiver report
// of the video.
func (f *abrFeed) observe(pkts []rtcp.Packet, now time.Time) (abrObs, bool) {
	var o abrObs
	ok := false
	for _, pkt := range pkts {
		switch p := pkt.(type) {
		case *rtcp.ReceiverEstimatedMaximumBitrate:
			f.remb = float64(p.Bitrate)
		case *rtcp.ReceiverReport:
			for _, r := range p.Reports {
				if r.SSRC == f.ssrc {
					o.Loss, ok = float64(r.FractionLost)/256, true
				}
			}
		}
	}
	o.At, o.REMB = now, f.remb
	return o, ok
}

// observed hands an observation to the automatic choice, dropping it
// when the choice is busy (a rendition look-up).
func (pl *player) observed(o abrObs) {
	select {
	case pl.obs <- o:
	default:
	}
}

// runABR is the automatic rendition choice of one viewer: it steps its
// video down the ladder after sustained loss and up after a quiet period
// (decideABR), unless the viewer pinned a rendition (force).
func (pl *player) runABR() {
	var (
		st        abrState
		ladder    []int // heights of the renditions below the original, tallest first
		ladderAt  time.Time
		lastBytes int64
		lastAt    time.Time
	)
	for {
		var o abrObs
		select {
		case <-pl.ctx.Done():
			return
		case o = <-pl.obs:
		}
		bytes := pl.videoBytes.Load()
		if !lastAt.IsZero() && o.At.After(lastAt) {
			o.Rate = float64(bytes-lastBytes) * 8 / o.At.Sub(lastAt).Seconds()
		}
		lastBytes, lastAt = bytes, o.At
		if pl.pinned.Load() {
			continue
		}
		if ladderAt.IsZero() || o.At.Sub(ladderAt) > ladderTTL {
			ladder, ladderAt = pl.ladder(), o.At
		}
		if len(ladder) == 0 {
			continue
		}
		st.Rung = rungOf(ladder, pl.videoHeight())
		next := decideABR(defaultABR, st, o, len(ladder)+1)
		if next.Rung != st.Rung {
			h := 0
			if next.Rung > 0 {
				h = ladder[next.Rung-1]
			}
			pl.log.Info("adaptive bitrate: switching rendition", "height", h, "loss", o.Loss, "remb", o.REMB, "rate", o.Rate)
			if err := pl.autoSwitch(h); err != nil {
				pl.log.Info("adaptive bitrate: switch failed", "height", h, "err", err)
				ladderAt = time.Time{} // look the ladder up again
				continue
			}
		}
		st = next
	}
}

// rungOf is the rung of a height in a ladder (0: the original).
func rungOf(ladder []int, height int) int {
	for i, h := range ladder {
		if h == height {
			return i + 1
		}
	}
	return 0
}

// ladder looks up the heights of the stream's renditions below the
// original, tallest first.
func (pl *player) ladder() []int {
	r := pl.srv.cfg.Renditions
	if r == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(pl.ctx, ladderTimeout)
	defer cancel()
	keys, err := r.RenditionKeys(ctx, pl.key)
	if err != nil {
		pl.log.Debug("adaptive bitrate: renditions look-up failed", "err", err)
		return nil
	}
	var hs []int
	for _, k := range keys {
		h, ok := renditionHeight(pl.key.ID, k.ID)
		if ok && (pl.origHeight <= 0 || h < pl.origHeight) {
			hs = append(hs, h)
		}
	}
	return hs
}

// renditionHeight returns N when id is parent's rendition {parent}_{N}p.
func renditionHeight(parent, id stream.ID) (int, bool) {
	rest, ok := strings.CutPrefix(string(id), string(parent)+"_")
	if !ok {
		return 0, false
	}
	num, ok := strings.CutSuffix(rest, "p")
	if !ok || num == "" || len(num) > 5 || strings.TrimLeft(num, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.Atoi(num)
	return n, err == nil && n > 0
}

// autoSwitch is a switch of the automatic choice: none while pinned.
func (pl *player) autoSwitch(height int) error {
	pl.switchMu.Lock()
	defer pl.switchMu.Unlock()
	if pl.pinned.Load() {
		return nil
	}
	ctx, cancel := context.WithTimeout(pl.ctx, ladderTimeout)
	defer cancel()
	return pl.switchTo(ctx, height)
}

// parseQuality parses a requested video height: forceStreamQuality's
// streamHeight or WHEP's quality parameter. "", "auto" and 0 are the
// automatic choice (0).
func parseQuality(s string) (int, error) {
	s = strings.TrimSuffix(strings.TrimSpace(strings.ToLower(s)), "p")
	if s == "" || s == "auto" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 1<<16 {
		return 0, fmt.Errorf("%w: quality %q is not a height", errNoRendition, s)
	}
	return n, nil
}

// force pins the viewer's video to the rendition of a height (the
// original when it is the original's height), or returns to the automatic
// choice for 0. It fails, changing nothing, when there is no such
// rendition.
func (pl *player) force(ctx context.Context, height int) error {
	pl.switchMu.Lock()
	defer pl.switchMu.Unlock()
	if height == 0 {
		pl.pinned.Store(false)
		return nil
	}
	target := height
	if height == pl.origHeight {
		target = 0
	}
	if err := pl.switchTo(ctx, target); err != nil {
		return err
	}
	pl.pinned.Store(true)
	return nil
}
