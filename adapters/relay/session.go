package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/core/stream"
)

// Session states.
const (
	sessionOpen int32 = iota
	sessionRunning
	sessionClosed
)

// session is one open pull; it implements ports.PullSession.
type session struct {
	key         stream.Key
	tracks      []media.Track
	body        io.ReadCloser
	dec         *Decoder
	cancel      context.CancelFunc // cancels the HTTP request
	readTimeout time.Duration
	state       atomic.Int32
}

// Tracks returns the tracks the origin announced.
func (s *session) Tracks() []media.Track { return s.tracks }

// Close abandons the session: it ends the connection of a session not Run,
// and stops a running one. Idempotent.
func (s *session) Close() {
	prev := s.state.Swap(sessionClosed)
	s.cancel()
	if prev == sessionOpen {
		s.body.Close()
	}
}

// Run hands each unit to write until the origin ends the stream (nil), the
// connection fails or the origin goes silent (an error), or ctx is
// cancelled (ctx.Err()). Each unit is freshly allocated: write may keep it.
// Run closes the connection before returning.
func (s *session) Run(ctx context.Context, write func(*media.Unit)) error {
	if !s.state.CompareAndSwap(sessionOpen, sessionRunning) {
		return ErrSessionClosed
	}
	defer s.body.Close()
	defer s.cancel() // before Close: abort rather than drain
	stop := context.AfterFunc(ctx, s.cancel)
	defer stop()

	var idle atomic.Bool
	timer := time.AfterFunc(s.readTimeout, func() { idle.Store(true); s.cancel() })
	defer timer.Stop()
	armed := time.Now()
	for {
		kind, u, err := s.dec.Next()
		if err != nil {
			return s.runErr(ctx, err, idle.Load())
		}
		// Re-arm the silence timer at most every eighth of its period.
		if now := time.Now(); now.Sub(armed) >= s.readTimeout/8 {
			timer.Reset(s.readTimeout)
			armed = now
		}
		switch kind {
		case FrameUnit:
			write(u)
		case FrameEnd:
			return nil
		}
	}
}

func (s *session) runErr(ctx context.Context, err error, idle bool) error {
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case s.state.Load() == sessionClosed:
		return ErrSessionClosed
	case idle:
		return fmt.Errorf("%w: no frame of %s for %s", ErrIdleTimeout, s.key, s.readTimeout)
	case errors.Is(err, io.EOF):
		return fmt.Errorf("%w: %s ended without end-of-stream", ErrConnectionLost, s.key)
	case errors.Is(err, ErrMalformed), errors.Is(err, ErrTooLarge), errors.Is(err, ErrVersion):
		return fmt.Errorf("relay: pull %s: %w", s.key, err)
	}
	return fmt.Errorf("%w: %s: %w", ErrConnectionLost, s.key, err)
}
