package webrtc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/colony-live/colony/core/stream"
	pion "github.com/pion/webrtc/v4"
)

// Session ends, as causes of a session's context.
var (
	// errEnded: the session ended normally (DELETE, stop, kicked, shutdown).
	errEnded = errors.New("session ended")
	// errPeerGone: the remote peer closed or lost the connection.
	errPeerGone = errors.New("peer connection closed")
	// errConnectTimeout: the peer did not connect in time.
	errConnectTimeout = errors.New("peer did not connect in time")
	// errNoPlayableTrack: the stream has no track WebRTC can carry, or the
	// viewer supports none of them.
	errNoPlayableTrack = errors.New("no track the viewer can play over WebRTC")
	// errServerClosed: the server is shutting down.
	errServerClosed = errors.New("WebRTC server closed")
)

// hooks tell the signalling front end (WebSocket) what happens to a
// session. WHIP and WHEP leave them nil.
type hooks struct {
	// candidate sends a local ICE candidate (trickle ICE).
	candidate func(pion.ICECandidateInit)
	// started: the peer connected.
	started func()
	// finished: the session ended.
	finished func()
}

// peer is the part common to publish and play sessions: one
// PeerConnection, its lifetime and its signalling state. Its run goroutine
// (owned by the publisher or player) is the only one that tears it down.
type peer struct {
	srv    *Server
	id     string
	key    stream.Key
	viewer bool
	seq    uint64  // registration order (Server.register)
	play   *player // the play session, for a viewer
	pc     *pion.PeerConnection
	log    *slog.Logger
	hooks  hooks

	ctx       context.Context
	cancel    context.CancelCauseFunc
	connected chan struct{}
	connOnce  sync.Once
	done      chan struct{}

	mu          sync.Mutex
	closing     bool
	remoteSet   bool
	remoteCands []pion.ICECandidateInit
	signalled   bool
	localCands  []pion.ICECandidateInit
	wg          sync.WaitGroup // goroutines reading tracks and RTCP
}

// maxQueuedCandidates bounds the candidates a session keeps before its
// descriptions are exchanged.
const maxQueuedCandidates = 64

// newPeer starts a session's PeerConnection, made by api (nil: the
// shared one).
func (s *Server) newPeer(api *pion.API, key stream.Key, viewer bool, remoteAddr string, h hooks) (*peer, error) {
	if api == nil {
		api = s.api.shared
	}
	cert, err := s.certs.get()
	if err != nil {
		return nil, err
	}
	pc, err := api.NewPeerConnection(pion.Configuration{Certificates: []pion.Certificate{cert}})
	if err != nil {
		return nil, fmt.Errorf("new peer connection: %w", err)
	}
	kind := "publish"
	if viewer {
		kind = "play"
	}
	p := &peer{
		srv: s, id: newSessionID(), key: key, viewer: viewer, pc: pc, hooks: h,
		connected: make(chan struct{}), done: make(chan struct{}),
	}
	p.log = s.log.With("stream", key.String(), "session", p.id, "kind", kind, "remote", remoteAddr)
	p.ctx, p.cancel = context.WithCancelCause(s.ctx)
	pc.OnConnectionStateChange(p.onState)
	pc.OnICECandidate(p.onLocalCandidate)
	if err := s.register(p); err != nil {
		_ = pc.Close()
		p.cancel(err)
		return nil, err
	}
	return p, nil
}

func (p *peer) onState(st pion.PeerConnectionState) {
	p.log.Debug("peer connection state", "state", st.String())
	switch st {
	case pion.PeerConnectionStateConnected:
		p.connOnce.Do(func() { close(p.connected) })
	case pion.PeerConnectionStateFailed, pion.PeerConnectionStateClosed:
		p.cancel(fmt.Errorf("%w: %s", errPeerGone, st))
	}
}

func (p *peer) onLocalCandidate(c *pion.ICECandidate) {
	if c == nil || p.hooks.candidate == nil {
		return
	}
	init := c.ToJSON()
	p.mu.Lock()
	if !p.signalled {
		if len(p.localCands) < maxQueuedCandidates {
			p.localCands = append(p.localCands, init)
		}
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	p.hooks.candidate(init)
}

// descriptionSent releases the local candidates gathered before the
// description that announces them was sent.
func (p *peer) descriptionSent() {
	p.mu.Lock()
	p.signalled = true
	cands := p.localCands
	p.localCands = nil
	p.mu.Unlock()
	if p.hooks.candidate != nil {
		for _, c := range cands {
			p.hooks.candidate(c)
		}
	}
}

// addRemoteCandidate adds a trickled candidate, or keeps it until the
// remote description is set. An empty candidate (end of candidates) is ignored.
func (p *peer) addRemoteCandidate(c pion.ICECandidateInit) error {
	if c.Candidate == "" {
		return nil
	}
	p.mu.Lock()
	if !p.remoteSet {
		defer p.mu.Unlock()
		if len(p.remoteCands) >= maxQueuedCandidates {
			return fmt.Errorf("more than %d candidates before the description", maxQueuedCandidates)
		}
		p.remoteCands = append(p.remoteCands, c)
		return nil
	}
	p.mu.Unlock()
	return p.pc.AddICECandidate(c)
}

// setRemote sets the remote description and adds the candidates that came before it.
func (p *peer) setRemote(desc pion.SessionDescription) error {
	if err := p.pc.SetRemoteDescription(desc); err != nil {
		return fmt.Errorf("%w: %w", errBadSDP, err)
	}
	p.mu.Lock()
	p.remoteSet = true
	cands := p.remoteCands
	p.remoteCands = nil
	p.mu.Unlock()
	for _, c := range cands {
		if err := p.pc.AddICECandidate(c); err != nil {
			p.log.Debug("remote candidate refused", "err", err)
		}
	}
	return nil
}

// answer answers a remote offer. Without trickle ICE (WHIP, WHEP) it waits
// for the end of gathering so that the answer carries the candidates.
func (p *peer) answer(ctx context.Context, offer string, trickle bool) (string, error) {
	if err := p.setRemote(pion.SessionDescription{Type: pion.SDPTypeOffer, SDP: offer}); err != nil {
		return "", err
	}
	ans, err := p.pc.CreateAnswer(nil)
	if err != nil {
		return "", fmt.Errorf("%w: create answer: %w", errBadSDP, err)
	}
	return p.setLocal(ctx, ans, trickle)
}

// offer makes an offer (play over the WebSocket).
func (p *peer) offer(ctx context.Context, trickle bool) (string, error) {
	off, err := p.pc.CreateOffer(nil)
	if err != nil {
		return "", fmt.Errorf("create offer: %w", err)
	}
	return p.setLocal(ctx, off, trickle)
}

func (p *peer) setLocal(ctx context.Context, desc pion.SessionDescription, trickle bool) (string, error) {
	var gathered <-chan struct{}
	if !trickle {
		gathered = pion.GatheringCompletePromise(p.pc)
	}
	if err := p.pc.SetLocalDescription(desc); err != nil {
		if errors.Is(err, pion.ErrUnsupportedCodec) {
			return "", fmt.Errorf("%w: %w", errNoPlayableTrack, err)
		}
		return "", fmt.Errorf("set local description: %w", err)
	}
	if !trickle {
		t := time.NewTimer(p.srv.cfg.GatherTimeout)
		defer t.Stop()
		select {
		case <-gathered:
		case <-t.C:
			p.log.Warn("ICE gathering timed out; answering with the candidates found")
		case <-ctx.Done():
			return "", ctx.Err()
		case <-p.ctx.Done():
			return "", context.Cause(p.ctx)
		}
	}
	return p.pc.LocalDescription().SDP, nil
}

// go runs fn in a goroutine that teardown waits for, unless the session is closing.
func (p *peer) goTracked(fn func()) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closing {
		return false
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		fn()
	}()
	return true
}

// close asks the session to end; err nil is a normal end. It does not wait.
func (p *peer) close(err error) {
	if err == nil {
		err = errEnded
	}
	p.cancel(err)
}

// Done is closed once the session is torn down.
func (p *peer) Done() <-chan struct{} { return p.done }

// waitConnected waits until the peer connects, the session ends or the
// connect timeout passes.
func (p *peer) waitConnected(extra <-chan struct{}) bool {
	t := time.NewTimer(p.srv.cfg.ConnectTimeout)
	defer t.Stop()
	select {
	case <-p.connected:
		return true
	case <-p.ctx.Done():
	case <-extra:
		p.close(nil)
	case <-t.C:
		p.close(errConnectTimeout)
	}
	return false
}

// teardown closes the PeerConnection, waits for its goroutines and
// unregisters the session. It returns the reason the session ended (nil:
// normal). Only the session's run goroutine calls it, once.
func (p *peer) teardown() error {
	p.cancel(errEnded)
	p.mu.Lock()
	p.closing = true
	p.mu.Unlock()
	if err := p.pc.GracefulClose(); err != nil {
		p.log.Debug("close peer connection", "err", err)
	}
	p.wg.Wait()
	p.srv.unregister(p)
	cause := context.Cause(p.ctx)
	if isNormalEnd(cause) { // ended on purpose, or the server shut down
		cause = nil
	}
	return cause
}

// finish reports the end and closes Done. Called after teardown.
func (p *peer) finish(cause error) {
	if cause != nil {
		p.log.Info("session ended", "reason", cause)
	} else {
		p.log.Info("session ended")
	}
	if p.hooks.finished != nil {
		p.hooks.finished()
	}
	close(p.done)
}
