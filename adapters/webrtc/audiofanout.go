package webrtc

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/colony-live/colony/core/media"
)

// audioFanout sends an Opus companion stream (AAC bridged to Opus,
// Config.Audio) to every viewer of it on this server, from one goroutine
// with one media.Reader. A reader and a goroutine per viewer cost a
// channel send and a goroutine wake-up per viewer for each 20 ms frame:
// at 200 viewers that was 10,000 wake-ups a second, about as much CPU as
// the audio's encryption and sending. Sending never blocks on a viewer
// (UDP), so one viewer cannot hold up the others; the reader itself drops
// (and resumes at the next frame) if the whole fan-out falls behind.
//
// Viewers join once their video anchor is set and get the frames from
// then on (the frames before it were skipped anyway), and leave when
// their session ends; the last to leave stops the goroutine. The server
// owns the goroutine (Server.wg) and stops it on Close.
type audioFanout struct {
	st *media.Stream
	r  *media.Reader

	mu      sync.Mutex // held while a frame is sent to the members
	members map[*player]*audioMember
}

// audioMember is a viewer's state in the fan-out, used only by the
// fan-out's goroutine (under audioFanout.mu).
type audioMember struct {
	anchor     time.Duration
	skewLogged bool
}

// joinAudio adds pl to the fan-out of the companion st, starting it if
// needed; it fails if st has ended.
func (s *Server) joinAudio(st *media.Stream, pl *player) (*audioFanout, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed { // the caller's session holds a count of s.wg: Add is safe
		return nil, errServerClosed
	}
	f := s.audioFanouts[st]
	if f == nil {
		r, err := st.Subscribe()
		if err != nil {
			return nil, err
		}
		f = &audioFanout{st: st, r: r, members: map[*player]*audioMember{}}
		s.audioFanouts[st] = f
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			f.run(s.ctx)
			s.mu.Lock()
			if s.audioFanouts[st] == f {
				delete(s.audioFanouts, st)
			}
			s.mu.Unlock()
		}()
	}
	f.mu.Lock()
	f.members[pl] = &audioMember{anchor: pl.anchor}
	f.mu.Unlock()
	return f, nil
}

// leaveAudio removes pl; the fan-out stops with its last member.
func (s *Server) leaveAudio(f *audioFanout, pl *player) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f.mu.Lock()
	delete(f.members, pl)
	empty := len(f.members) == 0
	f.mu.Unlock()
	if empty && s.audioFanouts[f.st] == f {
		delete(s.audioFanouts, f.st)
		f.r.Close() // run returns
	}
}

// run sends the companion's frames until the stream ends, the reader is
// closed (no members left) or ctx (the server's) is done.
func (f *audioFanout) run(ctx context.Context) {
	defer f.r.Close()
	one := make([][]byte, 1) // an Opus frame is one RTP payload, shared by every member
	for {
		u, err := f.r.Next(ctx)
		if err != nil {
			if errors.Is(err, media.ErrStreamClosed) {
				f.mu.Lock()
				for pl := range f.members {
					pl.log.Debug("the Opus companion ended")
				}
				f.mu.Unlock()
			}
			return
		}
		if u.Track != 0 {
			continue
		}
		one[0] = u.Data
		f.mu.Lock()
		for pl, m := range f.members {
			pl.sendAudio(m, u, one)
		}
		f.mu.Unlock()
	}
}

// sendAudio sends a companion frame to pl. Its timestamp is the source's,
// so it is measured from the video's anchor, as the source's own audio
// would be: lip sync as in the source. Frames older than the anchor (the
// first picture) are skipped.
func (pl *player) sendAudio(m *audioMember, u *media.Unit, payload [][]byte) {
	if u.PTS < m.anchor {
		return
	}
	if d := u.PTS - m.anchor; !m.skewLogged && d >= skewAfter {
		// The video of PTS p leaves about anchorWall + (p - anchor).
		m.skewLogged = true
		pl.log.Debug("Opus companion audio lag behind the video", "lag", (time.Since(pl.anchorWall) - d).Round(time.Millisecond))
	}
	pl.check(pl.audio.out.writePayloads(payload, pl.audio.base+rtpTicks(u.PTS-m.anchor, pl.audio.clock)))
}
