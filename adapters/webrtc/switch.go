package webrtc

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
)

// switchTimeout bounds how long a viewer's video is held, at a keyframe
// of the source it leaves, for the source it switches to: a target that
// shows no keyframe by then is given up.
const switchTimeout = 5 * time.Second

// errNoRendition: the viewer asked for a rendition the stream does not have.
var errNoRendition = errors.New("no such rendition")

// videoSource is a stream whose video a player can send: the stream its
// pump reads, or another rendition of the same source. All share the
// source's timeline (renditions keep the source's PTS and keyframes), so a
// switch keeps the RTP timestamps on the player's anchor.
type videoSource struct {
	// height names the source: the rendition {id}_{height}p, or 0 for
	// the original stream.
	height int
	st     *media.Stream
	track  int
	frames *frameCache // shared by the track's viewers
}

// videoSwitch is the state of a player's video source; mu also
// serialises the writes of the video track.
type videoSwitch struct {
	mu      sync.Mutex
	active  *videoSource // whose frames are sent
	pending *videoSource // the source switched to at its next keyframe
	// heldSince: the active source reached a keyframe while a switch was
	// pending, and its frames are held back since then, so that the
	// target (a transcoder's output runs behind its source) can take over
	// at a keyframe newer than the last frame sent.
	heldSince time.Time
	sent      bool          // a frame was sent
	last      time.Duration // the PTS of the last frame sent
	onSwitch  func(height int)
}

// offerVideo sends u, a video unit of src, stamped ts, if src is the
// viewer's video source now; it makes src that source when src is the
// pending one and u a keyframe newer than the last frame sent. It reports
// whether src is still wanted (active or pending).
func (pl *player) offerVideo(src *videoSource, u *media.Unit, ts uint32, now time.Time) bool {
	vs := &pl.vs
	vs.mu.Lock()
	defer vs.mu.Unlock()
	switch {
	case vs.active == src:
		if u.Key && vs.pending != nil && vs.sent && vs.heldSince.IsZero() {
			vs.heldSince = now
		}
		if !vs.heldSince.IsZero() {
			switch {
			case vs.pending != nil && now.Sub(vs.heldSince) < switchTimeout:
				return true // hold for the target
			case !u.Key:
				return true // the switch was given up: resume at a keyframe
			}
			if vs.pending != nil {
				pl.log.Info("no keyframe from the rendition switched to: staying", "height", vs.pending.height)
				vs.pending = nil
			}
			vs.heldSince = time.Time{}
		}
	case vs.pending == src:
		if !u.Key || (vs.sent && u.PTS <= vs.last) {
			return true
		}
		vs.active, vs.pending, vs.heldSince = src, nil, time.Time{}
		pl.log.Debug("video source switched", "height", src.height)
		if vs.onSwitch != nil {
			vs.onSwitch(src.height)
		}
	default:
		return false
	}
	pl.writeVideo(src, u, ts)
	vs.sent, vs.last = true, u.PTS
	return true
}

// writeVideo packetizes and sends one frame. vs.mu is held.
func (pl *player) writeVideo(src *videoSource, u *media.Unit, ts uint32) {
	p := src.frames.payloads(u)
	if p == nil {
		pl.log.Debug("skipping a malformed access unit")
		return
	}
	for _, b := range p {
		pl.videoBytes.Add(int64(len(b)))
	}
	pl.check(pl.video.out.writePayloads(p, ts))
}

// videoHeight is the height of the source sent now, or switched to.
func (pl *player) videoHeight() int {
	pl.vs.mu.Lock()
	defer pl.vs.mu.Unlock()
	if pl.vs.pending != nil {
		return pl.vs.pending.height
	}
	return pl.vs.active.height
}

// switchTo switches the viewer's video to the rendition of a height (0:
// the original) at its next keyframe. It fails, changing nothing, when
// the stream has no such rendition or its video cannot replace the
// current one.
func (pl *player) switchTo(ctx context.Context, height int) error {
	if pl.video == nil {
		return fmt.Errorf("%w: the viewer receives no video", errNoRendition)
	}
	vs := &pl.vs
	vs.mu.Lock()
	cur := vs.active
	if vs.pending != nil {
		cur = vs.pending
	}
	switch {
	case cur.height == height:
		vs.mu.Unlock()
		return nil
	case height == pl.base.height:
		vs.pending = pl.base
		if vs.active == pl.base {
			vs.pending = nil // back before the switch happened
		}
		vs.mu.Unlock()
		return nil
	}
	vs.mu.Unlock()
	src, err := pl.srv.videoSource(ctx, pl.key, height, pl.query, pl.base)
	if err != nil {
		return err
	}
	vs.mu.Lock()
	vs.pending = src
	vs.mu.Unlock()
	if !pl.goTracked(func() { pl.pumpRendition(src) }) {
		return errServerClosed
	}
	return nil
}

// videoSource plays the rendition of key of a height (0: key itself) and
// returns its video track, which must have the codec of like's.
func (s *Server) videoSource(ctx context.Context, key stream.Key, height int, q map[string][]string, like *videoSource) (*videoSource, error) {
	k := key
	if height > 0 {
		id, err := stream.ParseID(fmt.Sprintf("%s_%dp", key.ID, height))
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errNoRendition, err)
		}
		k.ID = id
	}
	st, err := s.play.Play(ctx, ports.PlayRequest{Key: k, Protocol: "webrtc", Query: q})
	if err != nil {
		if errors.Is(err, ports.ErrStreamNotFound) {
			return nil, fmt.Errorf("%w: %s: %w", errNoRendition, k, err)
		}
		return nil, err
	}
	want := media.H264
	if like.frames.conv == nil {
		want = media.VP8
	}
	for i, t := range st.Tracks() {
		if t.Codec == want {
			return &videoSource{height: height, st: st, track: i, frames: s.frames(st, i)}, nil
		}
	}
	return nil, fmt.Errorf("%w: %s has no %s video (tracks %s)", errNoRendition, k, want, trackList(st.Tracks()))
}

// pumpRendition sends the video of a source other than the pump's while
// it is active or pending. When it ends while active, the viewer goes back
// to the pump's source.
func (pl *player) pumpRendition(src *videoSource) {
	select {
	case <-pl.anchored:
	case <-pl.ctx.Done():
		return
	}
	r, err := src.st.Subscribe()
	if err == nil {
		defer r.Close()
		for {
			var u *media.Unit
			if u, err = r.Next(pl.ctx); err != nil {
				break
			}
			if u.Track != src.track {
				continue
			}
			if !pl.offerVideo(src, u, pl.video.base+rtpTicks(u.PTS-pl.anchor, pl.video.clock), time.Now()) {
				return
			}
		}
	}
	if pl.ctx.Err() != nil {
		return
	}
	vs := &pl.vs
	vs.mu.Lock()
	defer vs.mu.Unlock()
	switch src {
	case vs.active:
		pl.log.Info("the rendition played ended: back to the original", "height", src.height, "err", err)
		vs.pending, vs.heldSince = pl.base, time.Time{}
	case vs.pending:
		vs.pending, vs.heldSince = nil, time.Time{}
	}
}
