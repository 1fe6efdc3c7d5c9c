package webrtc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
)

// Server serves WebRTC publishers and viewers. It does not listen for HTTP
// itself: Register mounts its routes on the node's mux. Media flows over
// UDP sockets of its own (an ephemeral port range, or one muxed port).
type Server struct {
	cfg    Config
	log    *slog.Logger
	ingest ports.Ingest
	play   ports.Playback
	api    *apiKit
	udp    io.Closer
	certs  *certSource // the DTLS certificate every new session uses

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // sessions and WebSocket connections

	mu         sync.Mutex
	closed     bool
	sessions   map[string]*peer
	viewers    map[stream.Key]int
	nViewers   int
	publishers map[stream.Key]*publisher
	// frameCaches share the packetization of video frames among viewers.
	frameCaches map[frameKey]*frameCache
	// fanouts send each stream, and each Opus companion, to its viewers
	// (livefanout.go).
	fanouts map[*media.Stream]*liveFanout

	cpu      atomic.Uint64 // the process's last CPU use (fraction of the cores, float64 bits)
	lagGuard lagGuard      // send-lag admission and shedding (Config.LagLimit), guarded by mu
	seq      uint64        // sessions registered, numbering them (newest: highest)

	directViewers atomic.Uint64 // viewers sent on the direct path since start
	fanoutSkips   atomic.Uint64 // times a fan-out fell fanoutMaxLag behind and skipped
	// audioPacked: the audience is large enough for Opus packing
	// (Config.AudioPackViewers); set under mu, read by the fan-outs.
	audioPacked atomic.Bool

	closeOnce sync.Once
}

var _ ports.ViewerCounter = (*Server)(nil)

// New returns a WebRTC server that admits publishers through ingest and
// viewers through play.
func New(cfg Config, ingest ports.Ingest, play ports.Playback) (*Server, error) {
	if ingest == nil || play == nil {
		return nil, fmt.Errorf("%w: nil Ingest or Playback", ErrInvalidConfig)
	}
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	certs, err := newCertSource(time.Now)
	if err != nil {
		return nil, err
	}
	api, udp, err := newAPI(cfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg: cfg, log: cfg.Logger.With("proto", "webrtc"), ingest: ingest, play: play, api: api, udp: udp, certs: certs,
		ctx: ctx, cancel: cancel,
		sessions: map[string]*peer{}, viewers: map[stream.Key]int{}, publishers: map[stream.Key]*publisher{},
		frameCaches: map[frameKey]*frameCache{}, fanouts: map[*media.Stream]*liveFanout{},
	}
	if cfg.CPULimit >= 0 {
		s.every(cpuSampleEvery, s.cpuSampler())
	}
	if cfg.LagLimit > 0 {
		s.every(lagSampleEvery, s.checkLag)
	}
	return s, nil
}

// every calls fn with the time every d, in a goroutine the server owns,
// until it closes.
func (s *Server) every(d time.Duration, fn func(now time.Time)) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-s.ctx.Done():
				return
			case now := <-t.C:
				fn(now)
			}
		}
	}()
}

// Register mounts the WHIP, WHEP and WebSocket signalling routes on mux:
//
//	POST   /{app}/whip/{id}            WHIP publish (application/sdp offer)
//	DELETE /{app}/whip/{id}/{session}  end the publication
//	POST   /{app}/whep/{id}            WHEP play
//	DELETE /{app}/whep/{id}/{session}  end the viewer session
//	GET    /{app}/websocket            Ant Media WebSocket signalling
//
// plus OPTIONS (CORS preflight) on the WHIP/WHEP paths. PATCH (trickle ICE
// and ICE restart) answers 405: sessions are non-trickle.
func (s *Server) Register(mux *http.ServeMux) {
	for _, kind := range []string{"whip", "whep"} {
		base := "/{app}/" + kind + "/{id}"
		post := s.handleWHEP
		if kind == "whip" {
			post = s.handleWHIP
		}
		mux.HandleFunc("POST "+base, post)
		mux.HandleFunc("OPTIONS "+base, s.handlePreflight)
		mux.HandleFunc("DELETE "+base+"/{session}", s.handleDelete(kind == "whep"))
		mux.HandleFunc("OPTIONS "+base+"/{session}", s.handlePreflight)
		mux.HandleFunc("PATCH "+base+"/{session}", s.handlePatch)
	}
	mux.HandleFunc("GET /{app}/websocket", s.handleWebSocket)
}

// Run serves until ctx is done, then closes the server.
func (s *Server) Run(ctx context.Context) error {
	select {
	case <-ctx.Done():
	case <-s.ctx.Done():
	}
	s.Close()
	return nil
}

// Close ends every session and WebSocket connection, waits for their
// goroutines and releases the UDP port. It is idempotent.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.cancel()
		s.wg.Wait()
		if err := s.udp.Close(); err != nil {
			s.log.Debug("close UDP mux", "err", err)
		}
	})
}

// Viewers returns the WebRTC viewers of a stream on this server.
func (s *Server) Viewers(key stream.Key) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.viewers[key]
}

// acquire counts a goroutine that Close must wait for, unless closed.
func (s *Server) acquire() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	return true
}

// register records a new session; a viewer counts against MaxViewers.
// Each registered session holds one count of s.wg until unregister.
func (s *Server) register(p *peer) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errServerClosed
	}
	if p.viewer {
		if s.cfg.MaxViewers > 0 && s.nViewers >= s.cfg.MaxViewers {
			return fmt.Errorf("%w: %d WebRTC viewers", ports.ErrOverloaded, s.nViewers)
		}
		if cpu, over := s.overloaded(); over {
			s.lagGuard.refusedCPU++
			return fmt.Errorf("%w: CPU at %.0f%% of the cores, past the limit of %.0f%%, with %d WebRTC viewers",
				ports.ErrOverloaded, 100*cpu, 100*s.cfg.CPULimit, s.nViewers)
		}
		if why := s.lagging(p.key, time.Now()); why != "" {
			s.lagGuard.refusedLag++
			return fmt.Errorf("%w: %s, with %d viewers", ports.ErrOverloaded, why, s.nViewers)
		}
		s.nViewers++
		s.viewers[p.key]++
		s.updatePacking()
	}
	s.seq++
	p.seq = s.seq
	s.sessions[p.id] = p
	s.wg.Add(1)
	return nil
}

func (s *Server) unregister(p *peer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.sessions[p.id]; !ok {
		return
	}
	delete(s.sessions, p.id)
	if p.viewer {
		s.nViewers--
		if s.viewers[p.key]--; s.viewers[p.key] <= 0 {
			delete(s.viewers, p.key)
		}
		s.updatePacking()
	}
}

// updatePacking turns Opus packing on at Config.AudioPackViewers viewers
// and off under three quarters of it. s.mu is held.
func (s *Server) updatePacking() {
	n := s.cfg.AudioPackViewers
	if n <= 0 {
		return
	}
	on := s.audioPacked.Load()
	switch {
	case !on && s.nViewers >= n:
		s.audioPacked.Store(true)
		s.log.Info("Opus audio packed for a large audience", "viewers", s.nViewers, "packet", s.cfg.AudioPack)
	case on && s.nViewers < n-n/4:
		s.audioPacked.Store(false)
		s.log.Info("Opus audio back to one frame a packet", "viewers", s.nViewers)
	}
}

// sessionDone releases the session's count of s.wg. Called last by its run goroutine.
func (s *Server) sessionDone() { s.wg.Done() }

func (s *Server) session(id string) (*peer, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.sessions[id]
	return p, ok
}

// setPublisher records the local WebRTC publisher of a stream, so that
// viewers can ask it for keyframes; nil removes pub if it is the current one.
func (s *Server) setPublisher(key stream.Key, pub, old *publisher) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if pub != nil {
		s.publishers[key] = pub
	} else if s.publishers[key] == old {
		delete(s.publishers, key)
	}
}

// requestKeyframe asks the stream's WebRTC publisher, if it publishes on
// this server, for a keyframe. Other sources (RTMP, an origin's relay)
// send keyframes on their own schedule.
func (s *Server) requestKeyframe(key stream.Key) {
	s.mu.Lock()
	pub := s.publishers[key]
	s.mu.Unlock()
	if pub != nil {
		pub.requestKeyframe()
	}
}

func newSessionID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// isNormalEnd reports whether err ends a session without failure.
func isNormalEnd(err error) bool {
	return err == nil || errors.Is(err, errEnded) || errors.Is(err, context.Canceled)
}
