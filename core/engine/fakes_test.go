package engine

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/core/origin"
	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
)

// fakeClock is a controllable Config.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

// outputFunc is a func-field ports.Output.
type outputFunc func(key stream.Key, s *media.Stream)

func (f outputFunc) Attach(key stream.Key, s *media.Stream) { f(key, s) }

// attachRecorder is an Output that records every Attach.
type attachRecorder struct {
	mu      sync.Mutex
	keys    []stream.Key
	streams []*media.Stream
}

func (r *attachRecorder) Attach(key stream.Key, s *media.Stream) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.keys = append(r.keys, key)
	r.streams = append(r.streams, s)
}

func (r *attachRecorder) attached() ([]stream.Key, []*media.Stream) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]stream.Key(nil), r.keys...), append([]*media.Stream(nil), r.streams...)
}

// viewersFunc is a func-field ports.ViewerCounter.
type viewersFunc func(key stream.Key) int

func (f viewersFunc) Viewers(key stream.Key) int { return f(key) }

// constViewers returns a counter reporting n (changeable at run time) for every stream.
func constViewers(n int64) (*atomic.Int64, ports.ViewerCounter) {
	v := new(atomic.Int64)
	v.Store(n)
	return v, viewersFunc(func(stream.Key) int { return int(v.Load()) })
}

// fakeAuth is a func-field ports.Authorizer; nil fields allow.
type fakeAuth struct {
	publish func(ports.PublishRequest) error
	play    func(ports.PlayRequest) error
}

func (a fakeAuth) AuthorizePublish(_ context.Context, req ports.PublishRequest) error {
	if a.publish == nil {
		return nil
	}
	return a.publish(req)
}

func (a fakeAuth) AuthorizePlay(_ context.Context, req ports.PlayRequest) error {
	if a.play == nil {
		return nil
	}
	return a.play(req)
}

// loadFunc is a func-field ports.LoadSampler.
type loadFunc func() (float64, uint64, uint64)

func (f loadFunc) Sample() (float64, uint64, uint64) { return f() }

// pullerFunc is a func-field ports.Puller.
type pullerFunc func(ctx context.Context, key stream.Key, from origin.Claim) (ports.PullSession, error)

func (f pullerFunc) Open(ctx context.Context, key stream.Key, from origin.Claim) (ports.PullSession, error) {
	return f(ctx, key, from)
}

// fakeSession is a ports.PullSession fed from a channel of units. Closing
// units simulates the origin ending or dying; Run also ends when its ctx does.
type fakeSession struct {
	tracks []media.Track
	units  chan *media.Unit

	cancelled chan struct{} // closed when Run returned because its ctx ended
	ran       atomic.Bool
	closeOnce sync.Once
	closed    chan struct{} // closed by Close or when Run returns
}

func newFakeSession(tracks []media.Track) *fakeSession {
	return &fakeSession{
		tracks:    tracks,
		units:     make(chan *media.Unit),
		cancelled: make(chan struct{}),
		closed:    make(chan struct{}),
	}
}

func (s *fakeSession) Tracks() []media.Track { return s.tracks }

func (s *fakeSession) Run(ctx context.Context, write func(*media.Unit)) error {
	s.ran.Store(true)
	defer s.Close()
	for {
		select {
		case <-ctx.Done():
			close(s.cancelled)
			return ctx.Err()
		case u, ok := <-s.units:
			if !ok {
				return errors.New("fake origin: connection lost")
			}
			write(u)
		}
	}
}

func (s *fakeSession) Close() { s.closeOnce.Do(func() { close(s.closed) }) }

// send hands u to the session's Run; false when the session ended first.
func (s *fakeSession) send(u *media.Unit) bool {
	select {
	case s.units <- u:
		return true
	case <-s.closed:
		return false
	case <-time.After(5 * time.Second):
		return false
	}
}
