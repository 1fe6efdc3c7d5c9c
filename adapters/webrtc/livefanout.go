package webrtc

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/core/stream"
)

const (
	// fanoutPendingMax bounds the units kept for a viewer while it sends
	// its start-up burst; beyond it the viewer resumes at the next
	// keyframe.
	fanoutPendingMax = 1024
	// fanoutYieldEvery: the fan-out lets the batching socket's sender
	// goroutine send (batchConn.handOff) after sending a unit to this many
	// viewers. With one processor (the governor's choice under a core of
	// load), the sender otherwise only runs once a frame has been queued
	// for every viewer, so every viewer waited for the last one's
	// encryption.
	fanoutYieldEvery = 16
	// fanoutChunk is how many viewers one goroutine serves a unit to; a
	// stream with more has its viewers served by several at once. 512
	// viewers of a 2 Mbit/s stream are about 0.85 of a core (6.5 µs a
	// packet, kernel included): below that one goroutine serves them best.
	// With 128 the 400-viewer step on the 2-core bench machine (server and
	// generator sharing it) took the generator's CPU and collapsed: 36 %
	// loss and seconds of latency, against no loss and 15 / 38 ms with one
	// goroutine.
	fanoutChunk = 512
	// fanoutMaxLagMin is the least a fan-out may fall behind before it
	// skips to a fresh keyframe (fanoutMaxLag).
	fanoutMaxLagMin = time.Second
)

// fanoutMaxLag is how far behind its stream a fan-out may fall (the age of
// the unit it is about to send, from Unit.Ingest, above the least age it
// has seen) before it drops units up to the next keyframe within that age: four times the send-lag limit,
// and at least a second. A WebRTC viewer sent frames a second late is
// already worse off than one that skips to the present: past capacity the
// viewers see a freeze and resume live instead of all drifting seconds
// behind (the send-lag guard meanwhile refuses newcomers and sheds).
func fanoutMaxLag(lagLimit time.Duration) time.Duration {
	return max(fanoutMaxLagMin, 4*lagLimit)
}

// liveFanout sends a stream's live units to every WebRTC viewer of it on
// this server, from one goroutine with one media.Reader: a reader and a
// goroutine per viewer cost a channel send and a goroutine wake-up per
// viewer for each unit. The streams are the ones viewers play, and the
// Opus companions of their AAC audio (joinCompanion).
// Sending never blocks on a viewer (UDP), so one viewer cannot hold up
// the others. If the whole fan-out falls behind (the machine is past its
// capacity), it skips: once the unit it is about to send is older than
// maxLag it drops units up to a video keyframe younger than that (an
// audio-only fan-out drops the old units), and asks for a keyframe; its
// reader, whose queue holds seconds, does the same when it overflows.
//
// A viewer joins with the units since the last keyframe (the fan-out's
// own GOP: exactly what it has delivered, so that nothing is missed or
// sent twice) and sends them as its start-up burst in its own goroutine;
// the units delivered meanwhile are kept for it (pending) and sent, in
// order, when it goes live. The last viewer to leave stops the fan-out;
// the server owns its goroutine (Server.wg).
type liveFanout struct {
	st    *media.Stream
	key   stream.Key
	chunk int // members served per goroutine (fanoutChunk)
	// senders are the muxed port's batching sockets, which the fan-out
	// lets send every fanoutYieldEvery members (yield).
	senders    []*batchConn
	yieldEvery int // fanoutYieldEvery
	r          *media.Reader
	ended      chan struct{} // closed when the stream ends (or the server closes)
	// maxLag: past it the fan-out skips to a fresh keyframe (fanoutMaxLag).
	// How far behind it is counts from floor, the least age of a unit it
	// has taken: an edge's relay transit and the clock difference with the
	// origin that stamped Unit.Ingest are not this node falling behind.
	maxLag time.Duration
	floor  lagFloor
	// delivering is the Unit.Ingest (UnixNano) of the unit being
	// delivered, 0 between units: how far behind the fan-out is right
	// now (lagAt), for the send-lag guard.
	delivering atomic.Int64

	mu sync.Mutex // held while a unit is delivered
	// closed: it takes no more members (its last one left, or run
	// returned). Set under mu, so that a joiner holding mu sees it; read
	// without mu where the server's lock is held (fanout).
	closed   atomic.Bool
	members  []*liveMember
	next     int        // the member served first for the next unit (rotates)
	gop      *media.GOP // what it has delivered since the last keyframe, for joiners
	hasVideo bool
	// packers pack the Opus tracks' frames (opuspack.go), by track index:
	// nil for the others, and when packing is off (Config.AudioPackViewers).
	packers []*opusPacker
	out     []*media.Unit // scratch: what a packer gives to deliver
}

// liveMember is a viewer's state in a fan-out, guarded by liveFanout.mu.
type liveMember struct {
	pl       *player
	send     func(u *media.Unit, anchor time.Duration) // pl.send, or pl.sendCompanion
	live     bool                                      // units are sent as they come; else kept in pending
	pending  []*media.Unit                             // delivered during the start-up burst
	lost     bool                                      // pending overflowed: resume at a keyframe
	anchored bool
	anchor   time.Duration
	waitKey  bool // skip units up to the next video keyframe
}

// joinVideo adds pl to the fan-out of st, the stream it plays, and
// returns the units since the last keyframe for its start-up burst (the
// member goes live with goLive); it fails if st has ended.
func (s *Server) joinVideo(st *media.Stream, pl *player) (*liveFanout, *liveMember, []*media.Unit, error) {
	m := &liveMember{pl: pl, send: pl.send}
	f, backlog, err := s.join(st, m)
	return f, m, backlog, err
}

// joinCompanion adds pl, whose anchor is set, to the fan-out of st, the
// Opus companion of its stream's AAC audio: live at once, from the next
// frame (the earlier ones are older than its first picture).
func (s *Server) joinCompanion(st *media.Stream, pl *player) (*liveFanout, *liveMember, error) {
	m := &liveMember{pl: pl, send: pl.sendCompanion, live: true, anchored: true, anchor: pl.anchor}
	f, _, err := s.join(st, m)
	return f, m, err
}

// joinAttempts bounds how often join finds the fan-out it looked up
// closed under it: each time it starts another, and one that closes at
// once means the stream ended (Subscribe then says so) or the server is
// closing.
const joinAttempts = 4

// errFanoutClosing: join found every fan-out it started closed.
var errFanoutClosing = errors.New("the stream's WebRTC fan-out keeps closing")

// join adds m to the fan-out of st, starting one if needed, and returns
// the fan-out's GOP.
//
// The server's lock is not held while join waits for the fan-out's: a
// delivery holds that for the whole unit (milliseconds at hundreds of
// viewers), and under the server's lock every other join and leave, and
// every session's registration and lookup, would wait behind it. While a
// crowd joined, those waits queued up: a tenth of 200 joiners waited 5 to
// 83 ms to join, against one delivery now (BENCHMARKS.md, session 17).
// So the fan-out found may close in between (its last viewer left, or its
// stream ended); join then starts another.
func (s *Server) join(st *media.Stream, m *liveMember) (*liveFanout, []*media.Unit, error) {
	for range joinAttempts {
		f, err := s.fanout(st, m.pl.key)
		if err != nil {
			return nil, nil, err
		}
		f.mu.Lock()
		if f.closed.Load() {
			f.mu.Unlock()
			continue
		}
		backlog := append([]*media.Unit(nil), f.gop.Units()...)
		f.members = append(f.members, m)
		f.mu.Unlock()
		return f, backlog, nil
	}
	return nil, nil, errFanoutClosing
}

// fanout returns the open fan-out of st, starting one if there is none.
func (s *Server) fanout(st *media.Stream, key stream.Key) (*liveFanout, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed { // the caller's session holds a count of s.wg: Add is safe
		return nil, errServerClosed
	}
	if f := s.fanouts[st]; f != nil && !f.closed.Load() {
		return f, nil
	}
	r, err := st.Subscribe()
	if err != nil {
		return nil, err
	}
	f := &liveFanout{st: st, key: key, chunk: fanoutChunk, r: r, ended: make(chan struct{}), gop: st.NewGOP(),
		maxLag: fanoutMaxLag(s.cfg.LagLimit), senders: s.api.batched, yieldEvery: fanoutYieldEvery}
	if s.cfg.fanoutChunk > 0 {
		f.chunk = s.cfg.fanoutChunk
	}
	if s.cfg.fanoutYieldEvery > 0 {
		f.yieldEvery = s.cfg.fanoutYieldEvery
	}
	for i, t := range st.Tracks() {
		if t.IsVideo() {
			f.hasVideo = true
		}
		if t.Codec == media.Opus && s.cfg.AudioPackViewers > 0 {
			if f.packers == nil {
				f.packers = make([]*opusPacker, len(st.Tracks()))
			}
			f.packers[i] = newOpusPacker(s.cfg.AudioPack, rtpMTU)
		}
	}
	// The stream's cached GOP, queued for the new reader, is the
	// first joiner's burst, not live units.
	for range r.Queued() {
		u, err := r.Next(s.ctx)
		if err != nil {
			r.Close()
			return nil, err
		}
		f.gop.Add(u)
		if !u.Ingest.IsZero() { // its newest sets the first floor
			f.floor.lower(time.Since(u.Ingest))
		}
	}
	s.fanouts[st] = f // in place of a closed one, whose own removal checks
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f.run(s, s.ctx)
	}()
	return f, nil
}

// forget removes the closed fan-out f from the server, if it is still
// its stream's there.
func (s *Server) forget(f *liveFanout) {
	s.mu.Lock()
	if s.fanouts[f.st] == f {
		delete(s.fanouts, f.st)
	}
	s.mu.Unlock()
}

// leave removes m; the fan-out stops with its last member. Like join, it
// does not hold the server's lock while it waits for the fan-out's.
func (s *Server) leave(f *liveFanout, m *liveMember) {
	f.mu.Lock()
	for i, x := range f.members {
		if x == m {
			f.members = append(f.members[:i], f.members[i+1:]...)
			break
		}
	}
	// Closed in the same hold of mu that emptied it: a joiner that comes
	// after finds it closed and starts another.
	empty := len(f.members) == 0 && !f.closed.Load()
	if empty {
		f.closed.Store(true)
	}
	f.mu.Unlock()
	if empty {
		s.forget(f)
		f.r.Close() // run returns
	}
}

// run delivers the stream's units until it ends, the reader is closed
// (no members left) or ctx (the server's) is done.
func (f *liveFanout) run(s *Server, ctx context.Context) {
	defer f.r.Close()
	defer func() {
		f.mu.Lock()
		f.closed.Store(true)
		f.mu.Unlock()
		s.forget(f)
		close(f.ended)
	}()
	var (
		dropped  uint64
		skipping bool
	)
	for {
		u, err := f.r.Next(ctx)
		if err != nil {
			return
		}
		if d := f.r.Dropped(); d != dropped {
			// The fan-out lost units and resumes at the next keyframe.
			dropped = d
			if f.hasVideo {
				s.requestKeyframe(f.key)
			}
		}
		var behind time.Duration
		if !u.Ingest.IsZero() {
			raw := time.Since(u.Ingest)
			behind = raw - f.floor.lower(raw)
		}
		stale := behind > f.maxLag
		switch {
		case skipping && !stale && f.gop.IsKey(u):
			skipping = false
		case skipping:
			continue
		case stale && f.hasVideo:
			// Too far behind: skip to a fresh keyframe. Joiners meanwhile
			// get no burst (their first frame is that keyframe).
			skipping = true
			s.fanoutSkips.Add(1)
			s.log.Warn("WebRTC fan-out behind its stream: skipping to a fresh keyframe",
				"stream", f.key, "behind", behind.Round(time.Millisecond), "limit", f.maxLag)
			f.mu.Lock()
			f.gop.Clear()
			f.mu.Unlock()
			f.dropPacked()
			s.requestKeyframe(f.key)
			continue
		case stale:
			s.fanoutSkips.Add(1)
			f.dropPacked()
			continue // audio only: each frame stands alone
		}
		if !u.Ingest.IsZero() {
			f.delivering.Store(u.Ingest.UnixNano())
		}
		f.mu.Lock()
		if p := f.packer(u.Track); p != nil {
			// The GOP keeps what was delivered: a frame the packer holds
			// reaches a joiner in its packet, not also in the burst.
			f.out = p.push(u, s.audioPacked.Load(), f.out[:0])
			for _, x := range f.out {
				f.gop.Add(x)
				f.deliver(x)
			}
			clear(f.out)
		} else {
			f.gop.Add(u)
			f.deliver(u)
		}
		f.mu.Unlock()
		f.delivering.Store(0)
	}
}

// packer returns the Opus packer of a track, or nil.
func (f *liveFanout) packer(track int) *opusPacker {
	if track < 0 || track >= len(f.packers) {
		return nil
	}
	return f.packers[track]
}

// dropPacked forgets the frames the packers hold: the fan-out skips ahead.
func (f *liveFanout) dropPacked() {
	for _, p := range f.packers {
		if p != nil {
			p.drop()
		}
	}
}

// lagAt is how far behind its stream the fan-out is at now: the age of
// the unit it is delivering, less its floor; 0 between units. A fan-out
// past the machine's capacity is always delivering a unit older than the
// last, so that this grows even while its viewers are sent nothing (and
// so measure no lag of their own).
func (f *liveFanout) lagAt(now time.Time) time.Duration {
	ing := f.delivering.Load()
	if ing == 0 {
		return 0
	}
	floor, _ := f.floor.get()
	return max(0, now.Sub(time.Unix(0, ing))-floor)
}

// deliver gives u to every member, in a rotating order; past
// fanoutChunk members, chunks of them are served by goroutines of their
// own, so that a stream with many viewers can use more than one core (the
// unit is delivered to all before the next one). f.mu is held.
func (f *liveFanout) deliver(u *media.Unit) {
	n := len(f.members)
	if n == 0 {
		return
	}
	start := f.next
	f.next = (f.next + 1) % n
	serve := func(from, to int) {
		for i := from; i < to; i++ {
			f.members[(start+i)%n].take(u)
			if (i-from+1)%f.yieldEvery == 0 && i+1 < to {
				f.yield()
			}
		}
	}
	if n <= f.chunk {
		serve(0, n)
		return
	}
	var wg sync.WaitGroup
	for from := f.chunk; from < n; from += f.chunk {
		wg.Go(func() { serve(from, min(from+f.chunk, n)) })
	}
	serve(0, f.chunk)
	wg.Wait()
}

// yield lets the muxed port's sender goroutines send what the fan-out has
// queued (batchConn.handOff). Without batching sockets every write is its
// own system call, and there is no sender to wait for.
func (f *liveFanout) yield() {
	for _, c := range f.senders {
		c.handOff()
	}
}

// take sends u to the member, or keeps it while its burst is sent.
// f.mu is held.
func (m *liveMember) take(u *media.Unit) {
	switch {
	case m.live:
		m.deliver(u)
	case m.lost:
	case len(m.pending) >= fanoutPendingMax:
		m.pending, m.lost = nil, true
	default:
		m.pending = append(m.pending, u)
	}
}

// deliver sends a live unit: from the first keyframe when there was no
// backlog to anchor the timestamps on. f.mu is held.
func (m *liveMember) deliver(u *media.Unit) {
	pl := m.pl
	if m.waitKey || !m.anchored {
		if pl.videoIdx >= 0 && (u.Track != pl.videoIdx || !u.Key) {
			return
		}
		m.waitKey = false
		if !m.anchored {
			m.anchor, m.anchored = u.PTS, true
			pl.setAnchor(m.anchor)
		}
	}
	m.send(u, m.anchor)
}

// goLive sends what was kept for m during its burst and makes it live;
// anchored says whether the burst set the anchor (to anchor).
func (f *liveFanout) goLive(m *liveMember, anchor time.Duration, anchored bool) {
	f.mu.Lock()
	m.anchor, m.anchored = anchor, anchored
	lost := m.lost
	m.waitKey = lost
	for _, u := range m.pending {
		m.deliver(u)
	}
	m.pending, m.lost, m.live = nil, false, true
	f.mu.Unlock()
	if lost {
		m.pl.srv.requestKeyframe(m.pl.key) // takes the server's lock: not under f.mu
	}
}

// sendCompanion sends a frame of the Opus companion. Its timestamp is the
// source's, so it is measured from the video's anchor, as the source's own
// audio would be: lip sync as in the source. Frames older than the anchor
// (the first picture) are skipped. An Opus frame is one RTP payload, the
// same bytes for every viewer.
func (pl *player) sendCompanion(u *media.Unit, anchor time.Duration) {
	if u.Track != 0 || u.PTS < anchor {
		return
	}
	if d := u.PTS - anchor; !pl.skewLogged && d >= skewAfter {
		// The video of PTS p leaves about anchorWall + (p - anchor).
		pl.skewLogged = true
		pl.log.Debug("Opus companion audio lag behind the video", "lag", (time.Since(pl.anchorWall) - d).Round(time.Millisecond))
	}
	pl.opusPayload[0] = u.Data
	pl.check(pl.audio.out.writePayloads(pl.opusPayload[:], pl.audio.base+rtpTicks(u.PTS-anchor, pl.audio.clock)))
}
