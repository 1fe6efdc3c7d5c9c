package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	pion "github.com/pion/webrtc/v4"
)

// session is the lifetime common to publishers and players: one
// PeerConnection, the goroutines reading it, and how to hang up.
type session struct {
	pc  *pion.PeerConnection
	log *slog.Logger

	ctx       context.Context // ends with the session; its cause is the reason
	cancel    context.CancelCauseFunc
	connected chan struct{}
	connOnce  sync.Once
	done      chan struct{}

	mu      sync.Mutex
	closing bool
	wg      sync.WaitGroup
	// hangup tells the server the session ends (WHIP/WHEP DELETE,
	// WebSocket stop); set once signalling succeeded.
	hangup func(context.Context) error
	// teardown runs after the peer connection is closed, before waiting
	// for the goroutines (closing the WebSocket ends its reader).
	teardown []func()

	closeOnce sync.Once
	// closedByUser: Close (or the caller's context) ended a running
	// session; what the hang-up causes is not an error then.
	closedByUser atomic.Bool
	// remoteCandidates counts the candidates in the server's description
	// (-1: unknown, trickle ICE), for the connect timeout's error.
	remoteCandidates atomic.Int32
}

func newSession(ctx context.Context, api *pion.API, log *slog.Logger) (*session, error) {
	pc, err := api.NewPeerConnection(pion.Configuration{})
	if err != nil {
		return nil, fmt.Errorf("new peer connection: %w", err)
	}
	s := &session{pc: pc, log: log, connected: make(chan struct{}), done: make(chan struct{})}
	s.remoteCandidates.Store(-1)
	s.ctx, s.cancel = context.WithCancelCause(context.Background())
	pc.OnConnectionStateChange(func(st pion.PeerConnectionState) {
		s.log.Debug("peer connection state", "state", st.String())
		switch st {
		case pion.PeerConnectionStateConnected:
			s.connOnce.Do(func() { close(s.connected) })
		case pion.PeerConnectionStateFailed, pion.PeerConnectionStateClosed:
			s.cancel(fmt.Errorf("%w: %s", ErrPeerGone, st))
		}
	})
	go s.run(ctx)
	return s, nil
}

// run tears the session down once it ends: its context is cancelled, or
// the caller's ctx is done (as Close).
func (s *session) run(ctx context.Context) {
	select {
	case <-s.ctx.Done():
	case <-ctx.Done():
		s.closedByUser.Store(true)
		s.hangUp()
		s.cancel(ErrClosed)
	}
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	if err := s.pc.GracefulClose(); err != nil {
		s.log.Debug("close peer connection", "err", err)
	}
	s.mu.Lock()
	fns := s.teardown
	s.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
	s.wg.Wait()
	close(s.done)
}

// goTracked runs fn in a goroutine the teardown waits for, unless the
// session is already ending.
func (s *session) goTracked(fn func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		fn()
	}()
	return true
}

// end ends the session for err (nil: a normal end) without hanging up.
func (s *session) end(err error) {
	if err == nil {
		err = ErrClosed
	}
	s.cancel(err)
}

// waitConnected waits until the peer connection connects.
func (s *session) waitConnected(ctx context.Context, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-s.connected:
		return nil
	case <-s.ctx.Done():
		return context.Cause(s.ctx)
	case <-ctx.Done():
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return ctx.Err()
		}
	case <-t.C:
	}
	if n := s.remoteCandidates.Load(); n >= 0 {
		return fmt.Errorf("%w (the server's description had %d ICE candidates)", ErrConnectTimeout, n)
	}
	return ErrConnectTimeout
}

// hangUp tells the server, once, that the session ends.
func (s *session) hangUp() {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		h := s.hangup
		s.mu.Unlock()
		if h == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := h(ctx); err != nil {
			s.log.Debug("hang up", "err", err)
		}
	})
}

// setHangup records how to end the session on the server.
func (s *session) setHangup(h func(context.Context) error) {
	s.mu.Lock()
	s.hangup = h
	s.mu.Unlock()
}

// onTeardown adds fn to what the teardown runs.
func (s *session) onTeardown(fn func()) {
	s.mu.Lock()
	s.teardown = append(s.teardown, fn)
	s.mu.Unlock()
}

// Close hangs up (WHIP/WHEP DELETE, WebSocket stop), closes the peer
// connection and waits for the session's goroutines. It is idempotent and
// returns the reason the session ended before Close, if any.
func (s *session) Close() error {
	select {
	case <-s.ctx.Done():
	default:
		s.closedByUser.Store(true)
		s.hangUp()
	}
	s.cancel(ErrClosed)
	<-s.done
	return s.Err()
}

// Done is closed once the session has ended and is torn down.
func (s *session) Done() <-chan struct{} { return s.done }

// Connected is closed once the peer connection is connected.
func (s *session) Connected() <-chan struct{} { return s.connected }

// Err is why the session ended: nil while it runs and after a normal end
// (Close, its context, the end of a non-looping source), ErrPeerGone when
// the server closed the connection, or another error.
func (s *session) Err() error {
	err := context.Cause(s.ctx)
	if err == nil || s.closedByUser.Load() || errors.Is(err, ErrClosed) || errors.Is(err, errSourceEnd) {
		return nil
	}
	return err
}
