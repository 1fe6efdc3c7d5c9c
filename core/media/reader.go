package media

import (
	"context"
	"sync"
	"sync/atomic"
)

// Reader receives a Stream's units through a bounded queue. Its owner runs
// it in its own goroutine with Run, and stops it by cancelling Run's context
// or calling Close.
type Reader struct {
	s  *Stream
	ch chan *Unit

	// waitKey is owned by the writer (guarded by Stream.mu): the reader lost
	// units and skips everything until the next keyframe.
	waitKey bool
	dropped atomic.Uint64

	closeOnce sync.Once
}

// offer queues u without blocking. Called by the writer with Stream.mu held.
func (r *Reader) offer(u *Unit, key bool) {
	if r.waitKey {
		if !key {
			r.drop()
			return
		}
		r.waitKey = false
	}
	select {
	case r.ch <- u:
	default:
		r.waitKey = true
		r.drop()
	}
}

func (r *Reader) drop() {
	r.dropped.Add(1)
	r.s.dropped.Add(1)
}

// Dropped returns how many units this reader lost because it was too slow.
func (r *Reader) Dropped() uint64 { return r.dropped.Load() }

// Queued returns how many units wait in the reader's queue.
func (r *Reader) Queued() int { return len(r.ch) }

// Tracks returns the stream's tracks.
func (r *Reader) Tracks() []Track { return r.s.tracks }

// Run calls fn for each unit in order until ctx is done (returning
// ctx.Err()), the stream ends (ErrStreamClosed), the reader is closed
// (ErrReaderClosed) or fn returns an error (returned as is). Run does not
// close the reader: call Close when done.
func (r *Reader) Run(ctx context.Context, fn func(*Unit) error) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case u, ok := <-r.ch:
			if !ok {
				return r.endErr()
			}
			if err := fn(u); err != nil {
				return err
			}
		}
	}
}

// Next returns the next unit, blocking until one arrives or ctx is done.
func (r *Reader) Next(ctx context.Context) (*Unit, error) {
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case u, ok := <-r.ch:
		if !ok {
			return nil, r.endErr()
		}
		return u, nil
	}
}

func (r *Reader) endErr() error {
	select {
	case <-r.s.done:
		return ErrStreamClosed
	default:
		return ErrReaderClosed
	}
}

// Close unsubscribes the reader. It is idempotent and safe to call from any goroutine.
func (r *Reader) Close() {
	r.closeOnce.Do(func() { r.s.remove(r) })
}
