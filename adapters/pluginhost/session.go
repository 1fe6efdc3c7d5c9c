package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/core/stream"
	transcoderv1 "github.com/colony-live/colony/plugins/transcoder/v1"
)

// SessionInfo describes a running session.
type SessionInfo struct {
	ID         string // "app/stream#3"
	Key        stream.Key
	Plugin     string // plugin of the generation being fed
	PID        int    // its process
	Generation int    // 1, then one more per restart or swap
	Restarts   int    // restarts after plugin failures
	Renditions []string
}

// maxEarlyUnits bounds the units kept before every rendition's tracks are known.
const maxEarlyUnits = 4096

// session transcodes one source for as long as it lives, across plugin
// restarts and swaps. Its goroutines: the feeder (source -> plugin), one
// receiver per generation (plugin -> renditions), the supervisor (restarts,
// swaps, stall checks), and retirers (kill a replaced generation once it
// has flushed).
type session struct {
	h      *Host
	id     string
	key    stream.Key
	log    *slog.Logger
	plan   *plan
	reader *media.Reader

	ctx       context.Context
	cancel    context.CancelFunc
	stopAfter func() bool
	wg        sync.WaitGroup // feeder, receivers, retirers

	swapCh  chan struct{} // a Swap happened: see want
	srcDone chan struct{} // the feeder has ended
	ready   chan struct{} // the rendition streams exist

	// Written by the receivers, one generation after another.
	wmu     sync.Mutex
	outs    []*media.Stream
	early   []*transcoderv1.RenditionUnit
	pending [][]*transcoderv1.Track // rendition tracks before ready
	lastDTS [][]time.Duration

	mu       sync.Mutex
	want     string
	cur      *generation // being fed
	next     *generation // takes over at the next resume point
	all      []*generation
	gens     int
	restarts int
}

func (h *Host) newSession(ctx context.Context, key stream.Key, src *media.Stream, p *plan, plugin string) (*session, error) {
	reader, err := src.Subscribe()
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithCancel(h.ctx)
	s := &session{h: h, key: key, plan: p, reader: reader, ctx: sctx, cancel: cancel,
		swapCh: make(chan struct{}, 1), srcDone: make(chan struct{}), ready: make(chan struct{}),
		pending: make([][]*transcoderv1.Track, len(p.rungs)), want: plugin}
	s.stopAfter = context.AfterFunc(ctx, cancel)
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		s.stopAfter()
		cancel()
		reader.Close()
		return nil, ErrClosed
	}
	h.seq++
	s.id = fmt.Sprintf("%s#%d", key, h.seq)
	h.sessions[s] = struct{}{}
	h.wg.Add(1)
	h.mu.Unlock()
	s.log = h.log.With("session", s.id)
	return s, nil
}

// start launches the first generation and the feeder, and waits until
// every rendition's tracks are known. On error everything is undone.
func (s *session) start(ctx context.Context) error {
	g, err := s.startGen(s.want)
	if err != nil {
		s.end()
		return err
	}
	s.setNext(g)
	s.wg.Add(1)
	go s.feed()
	timer := time.NewTimer(s.h.cfg.ReadyTimeout)
	defer timer.Stop()
	began := time.Now()
	select {
	case <-s.ready:
		names := make([]string, len(s.plan.renditions))
		for i, r := range s.plan.renditions {
			names[i] = r.Name
		}
		s.log.Info("transcoding", "plugin", g.plugin, "renditions", names, "ready_in", time.Since(began).Round(time.Millisecond))
		go s.supervise(g)
		return nil
	case <-g.dead:
		err = fmt.Errorf("plugin %s failed before the renditions were ready: %w", g.plugin, g.err)
	case <-s.srcDone:
		err = fmt.Errorf("%w: the source ended first", ErrNotReady)
	case <-timer.C:
		err = fmt.Errorf("%w: no keyframe from plugin %s within %v", ErrNotReady, g.plugin, s.h.cfg.ReadyTimeout)
	case <-ctx.Done():
		err = ctx.Err()
	case <-s.ctx.Done():
		err = ErrClosed
	}
	s.end()
	return err
}

// startGen starts a plugin process and a session on it.
func (s *session) startGen(name string) (*generation, error) {
	p, err := s.h.launch(name)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.gens++
	n := s.gens
	s.mu.Unlock()
	ctx, stop := context.WithCancel(s.ctx)
	st := &transcoderv1.Start{Session: fmt.Sprintf("%s/%d", s.id, n), Tracks: s.plan.tracks, Ladder: s.plan.rungs,
		Options: &transcoderv1.Options{CopyAudio: true}}
	sess, err := p.tc.Transcode(ctx, st)
	if err != nil {
		stop()
		s.h.kill(p)
		return nil, fmt.Errorf("plugin %s refused the session: %w", name, err)
	}
	g := &generation{n: n, plugin: name, proc: p, sess: sess, ctx: ctx, stop: stop,
		promoted: make(chan *generation, 1), recvDone: make(chan struct{}), dead: make(chan struct{}),
		keyed: make([]bool, len(s.plan.rungs))}
	s.mu.Lock()
	s.all = append(s.all, g)
	s.mu.Unlock()
	s.log.Info("transcoder plugin started", "plugin", name, "pid", p.pid, "generation", n)
	s.wg.Add(1)
	go s.receive(g)
	return g, nil
}

// kill stops a generation's stream and process.
func (s *session) kill(g *generation) {
	g.killOnce.Do(func() {
		g.fail(errors.New("stopped"))
		g.stop()
		s.h.kill(g.proc)
	})
}

// setNext makes g the generation to switch to at the next resume point,
// killing a previous candidate that never got there.
func (s *session) setNext(g *generation) {
	s.mu.Lock()
	old := s.next
	s.next = g
	s.mu.Unlock()
	if old != nil {
		s.kill(old)
	}
}

func (s *session) current() *generation {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

// promote switches the feeder to the next generation, if there is one.
// The previous one gets its input closed, flushes what it holds (units
// before this keyframe) and is killed once done.
func (s *session) promote() *generation {
	s.mu.Lock()
	next, prev := s.next, s.cur
	if next != nil {
		s.cur, s.next = next, nil
	}
	cur := s.cur
	s.mu.Unlock()
	if next == nil {
		return cur
	}
	next.promoted <- prev
	if prev != nil {
		if prev.isDead() {
			s.log.Info("transcoding resumed at a source keyframe", "plugin", next.plugin, "generation", next.n)
		} else {
			s.log.Info("switched transcoder plugin at a source keyframe", "from", prev.plugin, "to", next.plugin, "generation", next.n)
		}
		prev.closeInput()
		s.wg.Add(1)
		go s.retire(prev)
	}
	return cur
}

// retire kills g once it has flushed (or failed to, in DrainTimeout).
func (s *session) retire(g *generation) {
	defer s.wg.Done()
	t := time.NewTimer(s.h.cfg.DrainTimeout)
	defer t.Stop()
	select {
	case <-g.recvDone:
	case <-t.C:
		s.log.Warn("replaced transcoder plugin did not flush in time", "plugin", g.plugin, "generation", g.n)
	case <-s.ctx.Done():
	}
	s.kill(g)
}

// feed reads the source and passes its units to the current generation. A
// new generation starts at a source keyframe; while none can take units
// they are dropped, and the source never waits.
func (s *session) feed() {
	defer s.wg.Done()
	defer close(s.srcDone)
	stall := s.h.cfg.StallTimeout
	for {
		u, err := s.reader.Next(s.ctx)
		if err != nil {
			if errors.Is(err, media.ErrStreamClosed) {
				s.log.Debug("source ended")
				if g := s.current(); g != nil {
					g.closeInput()
				}
			}
			return
		}
		if u.Track < 0 || u.Track >= len(s.plan.wire) || s.plan.wire[u.Track] < 0 {
			continue
		}
		resume := s.plan.resumePoint(u)
		var g *generation
		if resume {
			g = s.promote()
		} else {
			g = s.current()
		}
		if g == nil || g.isDead() || g.closedSend.Load() || g.sendErr.Load() != nil {
			continue
		}
		if !g.fed.Load() {
			if !resume {
				continue
			}
			g.fed.Store(true)
		}
		if err := g.send(wireUnit(s.plan.wire[u.Track], u), stall); err != nil {
			g.sendErr.Store(&sendFailure{err: fmt.Errorf("sending to the plugin: %w", err), at: time.Now()})
		}
	}
}

// receive writes g's output to the renditions, after the generation g
// replaced has written all of its own.
func (s *session) receive(g *generation) {
	defer s.wg.Done()
	defer close(g.recvDone)
	var prev *generation
	select {
	case prev = <-g.promoted:
	case <-g.ctx.Done():
		return
	}
	if prev != nil {
		select {
		case <-prev.recvDone:
		case <-g.ctx.Done():
			return
		}
	}
	for {
		r, err := g.sess.Recv()
		if err != nil {
			switch {
			case errors.Is(err, io.EOF) && g.closedSend.Load():
				// flushed after its input closed: a normal end
			case errors.Is(err, io.EOF):
				g.fail(errors.New("the plugin ended the session"))
			default:
				g.fail(err)
			}
			return
		}
		g.gotOutput()
		switch m := r.Msg.(type) {
		case *transcoderv1.TranscodeResponse_Tracks:
			s.onTracks(g, m.Tracks)
		case *transcoderv1.TranscodeResponse_Unit:
			s.onUnit(g, m.Unit)
		}
	}
}

func (s *session) onTracks(g *generation, m *transcoderv1.RenditionTracks) {
	i := int(m.GetRendition())
	if i >= len(s.plan.rungs) || len(m.GetTracks()) == 0 {
		return
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.outs == nil {
		s.pending[i] = m.GetTracks()
		for _, p := range s.pending {
			if p == nil {
				return
			}
		}
		s.createOutputs(g)
		return
	}
	have := s.outs[i].Tracks()
	if len(have) != len(m.GetTracks()) {
		s.log.Warn("rendition tracks changed; keeping the first ones", "rendition", s.plan.renditions[i].Name, "generation", g.n)
		return
	}
	for j, t := range m.GetTracks() {
		if have[j].Codec != media.Codec(t.GetCodec()) || have[j].Width != int(t.GetWidth()) || have[j].Height != int(t.GetHeight()) {
			s.log.Warn("rendition track changed; its new parameters travel in-band", "rendition", s.plan.renditions[i].Name,
				"track", j, "generation", g.n)
		}
	}
}

// createOutputs makes the rendition streams and writes what came early.
// Called with wmu held.
func (s *session) createOutputs(g *generation) {
	s.outs = make([]*media.Stream, len(s.pending))
	s.lastDTS = make([][]time.Duration, len(s.pending))
	for i, ts := range s.pending {
		tracks := make([]media.Track, len(ts))
		for j, t := range ts {
			tracks[j] = mediaTrack(t)
		}
		s.outs[i] = media.NewStream(tracks, media.StreamConfig{})
		s.plan.renditions[i].Stream = s.outs[i]
		s.lastDTS[i] = make([]time.Duration, len(tracks))
		for j := range s.lastDTS[i] {
			s.lastDTS[i][j] = time.Duration(-1 << 63)
		}
	}
	for _, u := range s.early {
		s.write(g, u)
	}
	s.early = nil
	close(s.ready)
}

func (s *session) onUnit(g *generation, u *transcoderv1.RenditionUnit) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.outs == nil {
		if len(s.early) < maxEarlyUnits {
			s.early = append(s.early, u)
		}
		return
	}
	s.write(g, u)
}

// write writes one rendition unit. A generation's video starts at a
// keyframe, and units not later than what a rendition already has (the
// overlap of a swap) are dropped. Called with wmu held.
func (s *session) write(g *generation, ru *transcoderv1.RenditionUnit) {
	i, t := int(ru.GetRendition()), int(ru.GetUnit().GetTrack())
	if i >= len(s.outs) || t >= len(s.outs[i].Tracks()) {
		return
	}
	u := mediaUnit(ru.GetUnit())
	if s.outs[i].Tracks()[t].IsVideo() && !g.keyed[i] {
		if !u.Key {
			return
		}
		g.keyed[i] = true
	}
	if u.DTS <= s.lastDTS[i][t] {
		return
	}
	s.lastDTS[i][t] = u.DTS
	s.outs[i].Write(u)
}

// end stops everything the session owns and closes its renditions.
func (s *session) end() {
	s.cancel()
	s.stopAfter()
	s.wg.Wait()
	s.mu.Lock()
	all := s.all
	s.mu.Unlock()
	for _, g := range all {
		s.kill(g)
	}
	s.wmu.Lock()
	for _, o := range s.outs {
		o.Close()
	}
	s.wmu.Unlock()
	s.reader.Close()
	s.h.mu.Lock()
	delete(s.h.sessions, s)
	s.h.mu.Unlock()
	s.h.wg.Done()
}

func (s *session) info() SessionInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	in := SessionInfo{ID: s.id, Key: s.key, Restarts: s.restarts}
	g := s.cur
	if g == nil {
		g = s.next
	}
	if g != nil {
		in.Plugin, in.PID, in.Generation = g.plugin, g.proc.pid, g.n
	}
	for _, r := range s.plan.renditions {
		in.Renditions = append(in.Renditions, r.Name)
	}
	return in
}
