// Package hls serves live streams as HLS and Low-Latency HLS with gohlslib, under Ant Media's /{app}/streams/ URLs.
package hls

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
)

// ErrNilPlayback is returned by New without a Playback.
var ErrNilPlayback = errors.New("hls: nil Playback")

// Server muxes every attached stream into HLS and serves it over HTTP. It
// implements ports.Output and http.Handler.
type Server struct {
	cfg  Config
	play ports.Playback
	log  *slog.Logger
	now  func() time.Time

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine the server starts

	memFiles    *memoryFiles // the bound on its segments' memory files, and their byte counts
	allowOrigin []string     // cfg.AllowOrigin, as a header value
	corsExpose  []string     // the Access-Control-Expose-Headers value

	mu       sync.RWMutex
	closed   bool
	streams  map[stream.Key]*streamMuxer
	prefixes map[string]*streamMuxer // gohlslib file prefix -> muxer, once ready
	changed  chan struct{}           // closed and replaced when streams changes

	requests atomic.Uint64
	bytesOut atomic.Uint64
}

// Stats are the server's counters since it started.
type Stats struct {
	Requests uint64 // HTTP requests received
	BytesOut uint64 // response body bytes written
	// Segment memory outside the Go heap: mapped in all, and of it what
	// has left every window (released once no reader holds it).
	SegmentBytes, ExpiredBytes int64
}

// New returns a Server. play answers viewers of streams this server does
// not have yet (on an edge it starts a pull, after which Attach is called).
func New(cfg Config, play ports.Playback) (*Server, error) {
	if play == nil {
		return nil, ErrNilPlayback
	}
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Directory != "" {
		if err := os.MkdirAll(cfg.Directory, 0o755); err != nil {
			return nil, fmt.Errorf("%w: directory: %w", ErrInvalidConfig, err)
		}
		removeLeftovers(cfg.Directory, cfg.Logger)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		cfg:      cfg,
		play:     play,
		log:      cfg.Logger.With("proto", "hls"),
		now:      time.Now,
		memFiles: &memoryFiles{max: maxMemoryFiles, bytes: &segmentBytes{}},
		// Header values shared by every response (net/http only reads
		// them; Header.Add would append to a copy).
		allowOrigin: []string{cfg.AllowOrigin},
		corsExpose:  []string{"Content-Length, Content-Type"},
		ctx:         ctx,
		cancel:      cancel,
		streams:     make(map[stream.Key]*streamMuxer),
		prefixes:    make(map[string]*streamMuxer),
		changed:     make(chan struct{}),
	}, nil
}

// Attach starts muxing src as key. It does not block. The muxer ends, and its
// files disappear, when src ends or the server closes. Attaching the stream
// already attached under key does nothing; another stream replaces it.
func (s *Server) Attach(key stream.Key, src *media.Stream) {
	if err := s.attach(key, src); err != nil {
		s.log.Warn("stream not muxed", "stream", key.String(), "err", err)
	}
}

// attach is Attach, reporting why a stream cannot be muxed.
func (s *Server) attach(key stream.Key, src *media.Stream) error {
	if src == nil {
		return nil
	}
	s.mu.Lock()
	if old := s.streams[key]; s.closed || (old != nil && old.src == src) {
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()

	sm, err := newStreamMuxer(s.ctx, s.cfg, key, src, s.log, s.memFiles)
	if err != nil {
		return err
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.streams[key]; s.closed || (old != nil && old.src == src) {
		sm.discard()
		return nil
	} else if old != nil {
		old.cancel() // superseded: a new publication of the same key
	}
	s.streams[key] = sm
	s.notifyLocked()
	s.wg.Go(func() {
		sm.run()
		s.remove(sm)
		close(sm.done)
	})
	s.wg.Go(func() {
		if prefix, ok := sm.waitContent(s.goTracked); ok {
			s.addPrefix(sm, prefix)
		}
	})
	return nil
}

// addPrefix makes sm's files reachable and marks it ready.
func (s *Server) addPrefix(sm *streamMuxer, prefix string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sm.removed {
		return
	}
	sm.prefix = prefix
	s.prefixes[prefix] = sm
	close(sm.ready)
}

// remove forgets sm once its muxer is closed.
func (s *Server) remove(sm *streamMuxer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sm.removed = true
	if s.streams[sm.key] == sm {
		delete(s.streams, sm.key)
		s.notifyLocked()
	}
	if sm.prefix != "" && s.prefixes[sm.prefix] == sm {
		delete(s.prefixes, sm.prefix)
	}
}

func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// lookup returns the muxer of key (nil if none) and a channel closed at the
// next change.
func (s *Server) lookup(key stream.Key) (*streamMuxer, <-chan struct{}, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.streams[key], s.changed, s.closed
}

func (s *Server) byPrefix(prefix string) *streamMuxer {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.prefixes[prefix]
}

// goTracked runs fn in a goroutine that Close waits for; false once closed.
func (s *Server) goTracked(fn func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Go(fn)
	return true
}

// Streams returns how many streams are being muxed.
func (s *Server) Streams() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.streams)
}

// Viewers returns how many distinct clients fetched something of key in
// the last 10 seconds.
func (s *Server) Viewers(key stream.Key) int {
	sm, _, _ := s.lookup(key)
	if sm == nil {
		return 0
	}
	return sm.viewers.count(s.now())
}

// Stats returns the server's counters.
func (s *Server) Stats() Stats {
	b := s.memFiles.counted()
	return Stats{Requests: s.requests.Load(), BytesOut: s.bytesOut.Load(),
		SegmentBytes: b.total(), ExpiredBytes: b.expired()}
}

// Run serves until ctx is done, then closes the server.
func (s *Server) Run(ctx context.Context) error {
	<-ctx.Done()
	s.Close()
	return nil
}

// Close stops every muxer and waits for all the server's goroutines.
// Requests that arrive afterwards get 503.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	for _, sm := range s.streams {
		sm.cancel()
	}
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
}

// muxerDirPrefix starts the name of each muxer's segment directory.
const muxerDirPrefix = "colony-hls-"

// removeLeftovers removes the segment directories a previous run left in
// dir (a crash skips their removal); nothing else in dir is touched.
func removeLeftovers(dir string, log *slog.Logger) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), muxerDirPrefix) {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				log.Warn("cannot remove a leftover segment directory", "dir", e.Name(), "err", err)
			}
		}
	}
}
