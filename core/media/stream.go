package media

import (
	"errors"
	"sync"
	"sync/atomic"
)

// ErrStreamClosed is returned by Subscribe and Reader.Run once the stream has ended.
var ErrStreamClosed = errors.New("stream closed")

// ErrReaderClosed is returned by Reader.Run after the reader was closed.
var ErrReaderClosed = errors.New("reader closed")

// StreamConfig sizes a Stream's buffers. The zero value uses the defaults.
type StreamConfig struct {
	// QueueSize is each reader's queue length in units (default 512: about
	// 8 s of 30 fps video plus audio). A reader whose queue is full drops
	// units until the next keyframe.
	QueueSize int
	// MaxGOPUnits bounds the keyframe cache (default 2048). A GOP longer than
	// this is not cached: new readers then wait for the next keyframe.
	MaxGOPUnits int
	// MaxGOPBytes bounds the keyframe cache in bytes (default 16 MiB).
	MaxGOPBytes int
}

func (c StreamConfig) withDefaults() StreamConfig {
	if c.QueueSize <= 0 {
		c.QueueSize = 512
	}
	if c.MaxGOPUnits <= 0 {
		c.MaxGOPUnits = 2048
	}
	if c.MaxGOPBytes <= 0 {
		c.MaxGOPBytes = 16 << 20
	}
	return c
}

// Stream fans the units of one published stream out to its readers. It has
// one writer (the ingest) and any number of readers. Write never blocks: each
// reader has a bounded queue, and a reader whose queue is full loses units
// until the next keyframe, without slowing the writer or the other readers.
// New readers start at the last keyframe (the GOP cache), so their first
// frame is immediate.
type Stream struct {
	cfg    StreamConfig
	tracks []Track

	mu      sync.Mutex
	readers []*Reader
	gop     GOP
	closed  bool
	done    chan struct{}

	unitsIn atomic.Uint64
	bytesIn atomic.Uint64
	dropped atomic.Uint64
}

// NewStream returns a stream carrying tracks.
func NewStream(tracks []Track, cfg StreamConfig) *Stream {
	s := &Stream{cfg: cfg.withDefaults(), tracks: append([]Track(nil), tracks...), done: make(chan struct{})}
	s.gop = newGOP(s.tracks, s.cfg)
	return s
}

// Tracks returns the stream's tracks. The caller must not modify them.
func (s *Stream) Tracks() []Track { return s.tracks }

// Done is closed when the stream ends.
func (s *Stream) Done() <-chan struct{} { return s.done }

// Write hands u to every reader. It never blocks. u must not be modified
// afterwards. Units for unknown tracks are ignored.
func (s *Stream) Write(u *Unit) {
	if u.Track < 0 || u.Track >= len(s.tracks) {
		return
	}
	key := s.gop.IsKey(u)
	s.unitsIn.Add(1)
	s.bytesIn.Add(uint64(len(u.Data)))

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.gop.add(u, key)
	for _, r := range s.readers {
		r.offer(u, key)
	}
}

// Subscribe adds a reader. Its queue starts with the cached GOP, so the
// reader's first unit is a keyframe; without a cached GOP it waits for the
// next keyframe.
func (s *Stream) Subscribe() (*Reader, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrStreamClosed
	}
	cached := s.gop.Units()
	r := &Reader{s: s, ch: make(chan *Unit, s.cfg.QueueSize+len(cached))}
	if len(cached) > 0 {
		for _, u := range cached {
			r.ch <- u
		}
	} else {
		r.waitKey = true
	}
	s.readers = append(s.readers, r)
	return r, nil
}

// Readers returns the number of current readers.
func (s *Stream) Readers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.readers)
}

// Stats returns counters since the stream started.
func (s *Stream) Stats() StreamStats {
	return StreamStats{UnitsIn: s.unitsIn.Load(), BytesIn: s.bytesIn.Load(), Dropped: s.dropped.Load(), Readers: s.Readers()}
}

// StreamStats are a stream's counters.
type StreamStats struct {
	UnitsIn, BytesIn, Dropped uint64
	Readers                   int
}

// Close ends the stream: every reader's Run returns ErrStreamClosed once it
// has consumed what was queued. Close is idempotent.
func (s *Stream) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	close(s.done) // before the queues, so that readers see ErrStreamClosed
	for _, r := range s.readers {
		close(r.ch)
	}
	s.readers = nil
	s.gop.Clear()
}

func (s *Stream) remove(r *Reader) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, x := range s.readers {
		if x == r {
			last := len(s.readers) - 1
			s.readers[i] = s.readers[last]
			s.readers[last] = nil
			s.readers = s.readers[:last]
			close(r.ch)
			return
		}
	}
}
