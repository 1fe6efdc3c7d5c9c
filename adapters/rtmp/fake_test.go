package rtmp

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/ports"
)

// fakeIngest is a ports.Ingest whose behaviour the test sets.
type fakeIngest struct {
	publish func(ctx context.Context, req ports.PublishRequest) (ports.Publication, error)
}

func (f *fakeIngest) Publish(ctx context.Context, req ports.PublishRequest) (ports.Publication, error) {
	return f.publish(ctx, req)
}

// recPub is a ports.Publication that records what the publisher did: the
// tracks it started with, every unit written and how it ended.
type recPub struct {
	t      testing.TB
	req    ports.PublishRequest
	kicked chan struct{}
	// startErr, when set, is returned by Start.
	startErr error

	started chan struct{} // closed by Start
	ended   chan struct{} // closed by End

	mu       sync.Mutex
	tracks   []media.Track
	units    []*media.Unit
	endErr   error
	endCalls int
	stream   *media.Stream
	collect  chan struct{}
}

func newRecPub(t testing.TB, req ports.PublishRequest) *recPub {
	return &recPub{t: t, req: req, kicked: make(chan struct{}), started: make(chan struct{}), ended: make(chan struct{})}
}

func (p *recPub) Start(tracks []media.Track) (*media.Stream, error) {
	if p.startErr != nil {
		return nil, p.startErr
	}
	s := media.NewStream(tracks, media.StreamConfig{QueueSize: 16384})
	r, err := s.Subscribe()
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.tracks, p.stream, p.collect = tracks, s, make(chan struct{})
	p.mu.Unlock()
	go func() {
		defer close(p.collect)
		defer r.Close()
		_ = r.Run(context.Background(), func(u *media.Unit) error {
			p.mu.Lock()
			p.units = append(p.units, u)
			p.mu.Unlock()
			return nil
		})
	}()
	close(p.started)
	return s, nil
}

func (p *recPub) Kicked() <-chan struct{} { return p.kicked }

func (p *recPub) End(err error) {
	p.mu.Lock()
	p.endCalls++
	calls, s, collect := p.endCalls, p.stream, p.collect
	p.endErr = err
	p.mu.Unlock()
	if calls > 1 {
		p.t.Errorf("End called %d times", calls)
		return
	}
	if s != nil {
		s.Close()
		<-collect
	}
	close(p.ended)
}

// unitCount returns how many units were received so far.
func (p *recPub) unitCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.units)
}

// waitStarted waits for Start.
func (p *recPub) waitStarted(t testing.TB, d time.Duration) {
	t.Helper()
	select {
	case <-p.started:
	case <-p.ended:
		t.Fatalf("publication ended before it started: %v", p.endErr)
	case <-time.After(d):
		t.Fatalf("publication did not start within %v", d)
	}
}

// waitEnded waits for End and returns its error.
func (p *recPub) waitEnded(t testing.TB, d time.Duration) error {
	t.Helper()
	select {
	case <-p.ended:
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.endErr
	case <-time.After(d):
		t.Fatalf("publication did not end within %v", d)
		return nil
	}
}

// pubRecorder is a fakeIngest that accepts every publish with a recPub,
// refuses a second publisher of a live key with ErrStreamBusy, and hands
// each publication to the test through pubs.
type pubRecorder struct {
	t    testing.TB
	mu   sync.Mutex
	live map[string]bool
	reqs []ports.PublishRequest
	pubs chan *recPub
}

func newPubRecorder(t testing.TB) *pubRecorder {
	return &pubRecorder{t: t, live: map[string]bool{}, pubs: make(chan *recPub, 16)}
}

func (r *pubRecorder) ingest() *fakeIngest {
	return &fakeIngest{publish: func(_ context.Context, req ports.PublishRequest) (ports.Publication, error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.reqs = append(r.reqs, req)
		k := req.Key.String()
		if r.live[k] {
			return nil, ports.ErrStreamBusy
		}
		r.live[k] = true
		p := newRecPub(r.t, req)
		r.pubs <- p
		return p, nil
	}}
}

func (r *pubRecorder) requests() []ports.PublishRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]ports.PublishRequest(nil), r.reqs...)
}

// next waits for the next accepted publication.
func (r *pubRecorder) next(t testing.TB, d time.Duration) *recPub {
	t.Helper()
	select {
	case p := <-r.pubs:
		return p
	case <-time.After(d):
		t.Fatalf("no publication within %v", d)
		return nil
	}
}
