// Package http1 serves the hot requests of an HTTP/1.1 listener on a lean
// connection loop and hands every other connection to net/http.
//
// An HLS viewer is a keep-alive connection that asks for a playlist and a
// segment, or an LL-HLS part, every fraction of a second: thousands of small
// GETs a second at a few hundred viewers. net/http spends on each of them a
// goroutine and a read that finds nothing (its background read, which
// watches for the client going away), four deadline changes, a context and
// a response it cannot reuse, and writes the header apart from a body sent
// with sendfile. The Lane reads each request head with net/http's own
// parser (http.ReadRequest) and answers the requests it takes on the
// connection's goroutine: one read per request, the header and body in one
// write (or the header queued with MSG_MORE ahead of sendfile), and
// timeouts kept by one sweeper instead of per-request timers.
//
// What the Lane takes is decided per request, from its request line:
// Config.Takes (for Colony, a GET or HEAD of an HLS path), HTTP/1.1, and a
// head that fits its buffer. The first request it does not take hands the
// connection, with the bytes already read, to net/http (Listener), which
// answers it and everything after it with its full semantics: request
// bodies, WebSocket upgrades, HTTP/1.0, huge heads.
package http1

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Config configures a Lane.
type Config struct {
	// Takes reports whether the Lane answers a request, from its request
	// line's method and request-target (path and query, as sent).
	Takes func(method, target string) bool
	// Handler answers the requests the Lane takes. It must not need what
	// the Lane's response lacks: hijacking, or reading a request body.
	Handler http.Handler
	// IdleTimeout closes a connection that has waited this long for its
	// next request (default 2 minutes).
	IdleTimeout time.Duration
	// HeaderTimeout closes a connection whose request head has not arrived
	// whole this long after its first byte (default 10 seconds).
	HeaderTimeout time.Duration
	// WriteTimeout closes a connection whose response has taken this long
	// (default 2 minutes): a viewer that stopped reading.
	WriteTimeout time.Duration
	// DrainTimeout bounds how long Serve waits, once its context ends, for
	// responses under way (default 5 seconds).
	DrainTimeout time.Duration
	Logger       *slog.Logger
}

func (c *Config) defaults() {
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 2 * time.Minute
	}
	if c.HeaderTimeout <= 0 {
		c.HeaderTimeout = 10 * time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 2 * time.Minute
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Stats counts what a Lane has done.
type Stats struct {
	Requests uint64 // answered on the Lane
	Handoffs uint64 // connections handed to net/http
}

// Lane accepts a listener's connections; see the package comment.
type Lane struct {
	cfg     Config
	ln      net.Listener
	handoff *handoffListener
	// base is the context of the requests the Lane answers: cancelled when
	// the drain is over, so that a handler still waiting gives up.
	base    context.Context
	cancel  context.CancelFunc
	epoch   time.Time
	date    dateCache
	readers sync.Pool // *bufio.Reader of readBufSize

	mu       sync.Mutex
	conns    map[*conn]struct{}
	draining atomic.Bool    // set under mu
	wg       sync.WaitGroup // the connections' goroutines

	requests atomic.Uint64
	handoffs atomic.Uint64
}

// New returns a Lane over ln. Serve runs it; Listener is what net/http's
// server serves.
func New(ln net.Listener, cfg Config) (*Lane, error) {
	if cfg.Takes == nil || cfg.Handler == nil {
		return nil, errors.New("http1: Takes and Handler are required")
	}
	cfg.defaults()
	base, cancel := context.WithCancel(context.Background())
	return &Lane{
		cfg: cfg, ln: ln, base: base, cancel: cancel, epoch: time.Now(),
		handoff: newHandoffListener(ln.Addr()),
		conns:   make(map[*conn]struct{}),
		readers: sync.Pool{New: func() any { return bufio.NewReaderSize(nil, readBufSize) }},
	}, nil
}

// Listener returns the connections handed to net/http: pass it to
// http.Server.Serve. Closing it (as the server's Shutdown does) closes the
// connections handed over after that.
func (l *Lane) Listener() net.Listener { return l.handoff }

// Stats returns the Lane's counts.
func (l *Lane) Stats() Stats {
	return Stats{Requests: l.requests.Load(), Handoffs: l.handoffs.Load()}
}

// Serve accepts connections until ctx ends or the listener fails. Then it
// closes the listener and the idle connections, lets the responses under
// way finish for up to DrainTimeout, closes what is left, and returns once
// every connection's goroutine has.
func (l *Lane) Serve(ctx context.Context) error {
	stop := make(chan struct{})
	sweepDone := make(chan struct{})
	go func() {
		defer close(sweepDone)
		l.sweep(stop)
	}()
	acceptErr := make(chan error, 1)
	go func() { acceptErr <- l.accept() }()

	var err error
	select {
	case <-ctx.Done():
		_ = l.ln.Close()
		<-acceptErr
	case err = <-acceptErr:
		_ = l.ln.Close()
	}
	l.drain()
	close(stop)
	<-sweepDone
	return err
}

// accept runs the accept loop, backing off on temporary errors as net/http
// does (a process out of descriptors).
func (l *Lane) accept() error {
	var delay time.Duration
	for {
		c, err := l.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				l.cfg.Logger.Warn("http accept failed; retrying", "err", err, "in", delay)
				time.Sleep(delay)
				continue
			}
			return fmt.Errorf("http1: accept: %w", err)
		}
		delay = 0
		if !l.start(c) {
			_ = c.Close()
		}
	}
}

func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// start begins serving c, unless the Lane is draining.
func (l *Lane) start(nc net.Conn) bool {
	c := newConn(l, nc)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.draining.Load() {
		return false
	}
	l.conns[c] = struct{}{}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		c.serve()
	}()
	return true
}

// clock is the time since the Lane's epoch (monotonic).
func (l *Lane) clock() time.Duration { return time.Since(l.epoch) }

func (l *Lane) isDraining() bool { return l.draining.Load() }

func (l *Lane) forget(c *conn) {
	l.mu.Lock()
	delete(l.conns, c)
	l.mu.Unlock()
}

// drain closes the idle connections, waits for the others to finish their
// response (they close once it is sent) up to DrainTimeout, then closes
// them all and waits for their goroutines.
func (l *Lane) drain() {
	l.mu.Lock()
	l.draining.Store(true)
	for c := range l.conns {
		c.closeIfIdle()
	}
	l.mu.Unlock()
	done := make(chan struct{})
	go func() {
		l.wg.Wait()
		close(done)
	}()
	t := time.NewTimer(l.cfg.DrainTimeout)
	defer t.Stop()
	for {
		select {
		case <-done:
			l.cancel()
			return
		case <-t.C:
			l.cancel()
			l.mu.Lock()
			for c := range l.conns {
				_ = c.nc.Close()
			}
			l.mu.Unlock()
			<-done
			return
		case <-time.After(50 * time.Millisecond):
			// A connection that finished a response since goes idle:
			// close it now rather than at the deadline.
			l.mu.Lock()
			for c := range l.conns {
				c.closeIfIdle()
			}
			l.mu.Unlock()
		}
	}
}

// sweep closes, once a second, the connections past a timeout: one timer
// for all of them instead of deadlines set and reset on every request.
func (l *Lane) sweep(stop <-chan struct{}) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			now := l.clock()
			l.mu.Lock()
			for c := range l.conns {
				c.expire(now)
			}
			l.mu.Unlock()
		}
	}
}

// handOver gives c to net/http; it reports false once the Lane no longer
// hands over (net/http's server has closed its listener).
func (l *Lane) handOver(c net.Conn) bool {
	if l.handoff.deliver(c, l.base.Done()) {
		l.handoffs.Add(1)
		return true
	}
	return false
}

// handoffListener is the net.Listener net/http serves: it accepts the
// connections the Lane hands over.
type handoffListener struct {
	addr   net.Addr
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newHandoffListener(addr net.Addr) *handoffListener {
	return &handoffListener{addr: addr, conns: make(chan net.Conn), closed: make(chan struct{})}
}

func (h *handoffListener) Accept() (net.Conn, error) {
	select {
	case c := <-h.conns:
		return c, nil
	case <-h.closed:
		return nil, net.ErrClosed
	}
}

// deliver waits for net/http to accept c, until the listener is closed or
// the Lane gives up (done).
func (h *handoffListener) deliver(c net.Conn, done <-chan struct{}) bool {
	select {
	case h.conns <- c:
		return true
	case <-h.closed:
		return false
	case <-done:
		return false
	}
}

func (h *handoffListener) Close() error {
	h.once.Do(func() { close(h.closed) })
	return nil
}

func (h *handoffListener) Addr() net.Addr { return h.addr }
