// Package rtmp is the RTMP ingest server: publishers push H.264/AAC over RTMP and it feeds them to ports.Ingest.
package rtmp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	gortmp "github.com/yutopp/go-rtmp"

	"github.com/colony-live/colony/ports"
)

// Server accepts RTMP publishers (rtmp://host:1935/{app}/{streamId}) and
// hands their streams to a ports.Ingest. Create it with New, then call Run;
// or Listen, then Serve, to know the address before serving.
type Server struct {
	cfg    Config
	ingest ports.Ingest
	log    *slog.Logger

	listenOnce sync.Once
	listenErr  error
	ln         net.Listener
	ready      chan struct{}
	served     atomic.Bool

	mu      sync.Mutex
	conns   map[*netConn]struct{}
	closing bool
	wg      sync.WaitGroup // connections and their helper goroutines

	connections atomic.Int64
	publishers  atomic.Int64
	bytesIn     atomic.Uint64
}

// Stats are the server's counters.
type Stats struct {
	Connections int    // open connections
	Publishers  int    // connections publishing a stream
	BytesIn     uint64 // bytes received since the server started
}

// New returns a server that feeds ingest. It does not listen yet.
func New(cfg Config, ingest ports.Ingest) (*Server, error) {
	if ingest == nil {
		return nil, errors.New("rtmp: nil ingest")
	}
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Server{
		cfg:    cfg,
		ingest: ingest,
		log:    cfg.Logger.With("proto", "rtmp"),
		ready:  make(chan struct{}),
		conns:  make(map[*netConn]struct{}),
	}, nil
}

// Listen binds Config.Addr. It is optional: Serve and Run listen when it was
// not called. Calling it again returns the first result.
func (s *Server) Listen() error {
	s.listenOnce.Do(func() {
		ln, err := net.Listen("tcp", s.cfg.Addr)
		if err != nil {
			s.listenErr = fmt.Errorf("rtmp: listen on %s: %w", s.cfg.Addr, err)
			return
		}
		s.ln = ln
		close(s.ready)
	})
	return s.listenErr
}

// Ready is closed once the server listens.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addr returns the address the server listens on, nil before it listens.
func (s *Server) Addr() net.Addr {
	select {
	case <-s.ready:
		return s.ln.Addr()
	default:
		return nil
	}
}

// Stats returns the server's counters.
func (s *Server) Stats() Stats {
	return Stats{
		Connections: int(s.connections.Load()),
		Publishers:  int(s.publishers.Load()),
		BytesIn:     s.bytesIn.Load(),
	}
}

// Run listens (unless Listen was called) and serves until ctx is cancelled.
func (s *Server) Run(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		return err
	}
	return s.Serve(ctx)
}

// Serve accepts connections until ctx is cancelled, then closes the
// listener and every connection, and returns nil once all of its goroutines
// have ended. A server serves once.
func (s *Server) Serve(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		return err
	}
	if !s.served.CompareAndSwap(false, true) {
		return errors.New("rtmp: server already served")
	}
	stop := make(chan struct{})
	l := &listener{Listener: s.ln, srv: s, stop: stop}
	srv := gortmp.NewServer(&gortmp.ServerConfig{
		OnConnect: func(c net.Conn) (io.ReadWriteCloser, *gortmp.ConnConfig) {
			return s.newConnHandler(ctx, c.(*netConn))
		},
	})
	s.log.Info("listening", "addr", s.ln.Addr().String())

	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()

	var err error
	select {
	case <-ctx.Done():
	case err = <-served:
		served = nil
	}
	close(stop)
	_ = srv.Close()
	_ = s.ln.Close()
	if served != nil {
		<-served // no Accept, hence no new connection, after this
	} else if err != nil && !errors.Is(err, gortmp.ErrClosed) {
		err = fmt.Errorf("rtmp: serve: %w", err)
	} else {
		err = nil
	}

	s.mu.Lock()
	s.closing = true
	for c := range s.conns {
		c.abort()
	}
	s.mu.Unlock()
	s.wg.Wait()
	s.log.Info("stopped")
	return err
}

// register tracks an accepted connection until go-rtmp closes it.
func (s *Server) register(c net.Conn) *netConn {
	nc := &netConn{Conn: c, srv: s, raw: newRawReader(c)}
	_ = c.SetDeadline(time.Now().Add(s.cfg.HandshakeTimeout))
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conns[nc] = struct{}{}
	s.wg.Add(1)
	s.connections.Add(1)
	if s.closing {
		nc.abort()
	}
	return nc
}

// release forgets a connection that go-rtmp has closed.
func (s *Server) release(c *netConn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.connections.Add(-1)
	s.wg.Done()
}

// goTracked runs fn in a goroutine that Serve waits for. The caller must
// hold a connection (so the wait group is not at zero).
func (s *Server) goTracked(fn func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		fn()
	}()
}
