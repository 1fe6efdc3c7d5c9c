package webrtc

import (
	"sync"

	"github.com/colony-live/colony/core/media"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
)

// frameCacheSize is how many recent frames of a video track keep their
// RTP payloads for the viewers that have not sent them yet (4 s at 30 fps:
// a cached GOP, and viewers a little behind the others).
const frameCacheSize = 128

// frameCache packetizes each frame of one video track once for all its
// viewers: only the RTP header differs from viewer to viewer, so the
// payloads (and the Annex-B conversion of H.264) are shared, read-only.
type frameCache struct {
	mu        sync.Mutex
	conv      *h264Out // nil for VP8
	payloader rtp.Payloader
	buf       []byte
	ring      [frameCacheSize]cachedFrame
	index     map[*media.Unit]int
	next      int
	// lagFloor is the smallest send lag any viewer of this track has seen
	// (see sendLag).
	lagFloor lagFloor
}

type cachedFrame struct {
	u        *media.Unit
	payloads [][]byte
}

func newFrameCache(t media.Track) *frameCache {
	c := &frameCache{index: make(map[*media.Unit]int, frameCacheSize)}
	if t.Codec == media.H264 {
		c.conv, c.payloader = newH264Out(t), &codecs.H264Payloader{}
	} else {
		c.payloader = &codecs.VP8Payloader{EnablePictureID: true}
	}
	return c
}

// payloads returns the RTP payloads of a frame of the track, in order
// (the last one ends the frame), or nil for a malformed frame. Callers
// must not modify them.
func (c *frameCache) payloads(u *media.Unit) [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if i, ok := c.index[u]; ok {
		return c.ring[i].payloads
	}
	data := u.Data
	if c.conv != nil {
		b, _, err := c.conv.annexB(c.buf[:0], u.Data)
		if err != nil {
			return nil
		}
		c.buf, data = b, b
	}
	p := c.payloader.Payload(rtpMTU, data)
	old := &c.ring[c.next]
	if old.u != nil {
		delete(c.index, old.u)
	}
	*old = cachedFrame{u: u, payloads: p}
	c.index[u] = c.next
	c.next = (c.next + 1) % frameCacheSize
	return p
}

// frameKey names a video track of a stream.
type frameKey struct {
	st    *media.Stream
	track int
}

// frames returns the frame cache of a video track, made on first use and
// dropped when its stream ends.
func (s *Server) frames(st *media.Stream, track int) *frameCache {
	k := frameKey{st, track}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.frameCaches[k]; c != nil {
		return c
	}
	c := newFrameCache(st.Tracks()[track])
	s.frameCaches[k] = c
	if !s.closed {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			select {
			case <-st.Done():
			case <-s.ctx.Done():
			}
			s.mu.Lock()
			delete(s.frameCaches, k)
			s.mu.Unlock()
		}()
	}
	return c
}
