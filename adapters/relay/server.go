package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
)

// ContentType is the media type of a relay response body.
const ContentType = "application/x-colony-relay"

// pathPrefix is where streams are served: pathPrefix + "{app}/{id}".
const pathPrefix = "/relay/v1/"

// Server errors.
var (
	// ErrNilStreams is returned by NewServer without a ports.LocalStreams.
	ErrNilStreams = errors.New("relay: nil LocalStreams")
	// ErrServing is returned by Listen or Serve when called twice.
	ErrServing = errors.New("relay: server already listening")
)

// ServerConfig configures a Server.
type ServerConfig struct {
	// Addr is the TCP address to listen on (default ":5000"). Keep it on
	// the cluster's internal network.
	Addr string
	// Secret is the cluster secret that relay tokens are signed with; at
	// least MinSecretLen bytes.
	Secret []byte
	// Logger receives the server's logs (default: discarded).
	Logger *slog.Logger
	// WriteTimeout bounds each write to an edge (default 10s): an edge that
	// accepts no data for that long is disconnected.
	WriteTimeout time.Duration
	// Heartbeat is how often a relay with no unit to send writes a
	// keepalive frame (default 2s), so that edges can tell a quiet stream
	// from a dead origin.
	Heartbeat time.Duration
}

func (c ServerConfig) withDefaults() ServerConfig {
	if c.Addr == "" {
		c.Addr = ":5000"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = 2 * time.Second
	}
	return c
}

// Stats are a server's relay counters.
type Stats struct {
	Active   int    // relays being served now
	Total    uint64 // relays started (authorized, stream found) since the server started
	BytesOut uint64 // relay frame bytes written
}

var _ ports.ViewerCounter = (*Server)(nil)

// Server serves the streams live on this node to edges: GET
// /relay/v1/{app}/{id} with "Authorization: Bearer <token>" answers 401
// without a valid token, 404 for a stream not live here, otherwise 200 and
// the stream's frames until it ends.
type Server struct {
	cfg     ServerConfig
	streams ports.LocalStreams
	log     *slog.Logger
	now     func() time.Time
	handler http.Handler

	mu     sync.Mutex
	ln     net.Listener
	served bool

	conns sync.WaitGroup // one per HTTP connection, until its goroutine ends

	active   atomic.Int64
	total    atomic.Uint64
	bytesOut atomic.Uint64

	perMu  sync.Mutex
	perKey map[stream.Key]int // relays being served now, per stream
}

// NewServer returns a Server for the streams found in streams.
func NewServer(cfg ServerConfig, streams ports.LocalStreams) (*Server, error) {
	if streams == nil {
		return nil, ErrNilStreams
	}
	if len(cfg.Secret) < MinSecretLen {
		return nil, ErrWeakSecret
	}
	cfg = cfg.withDefaults()
	cfg.Secret = append([]byte(nil), cfg.Secret...)
	s := &Server{cfg: cfg, streams: streams, log: cfg.Logger.With("proto", "relay"), now: time.Now, perKey: map[stream.Key]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+pathPrefix+"{app}/{id}", s.handlePull)
	s.handler = mux
	return s, nil
}

// Listen opens the listening socket, so that Addr is known before Serve.
func (s *Server) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		return ErrServing
	}
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("relay: listen: %w", err)
	}
	s.ln = ln
	return nil
}

// Addr returns the listening address, or nil before Listen.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Stats returns the server's counters.
func (s *Server) Stats() Stats {
	return Stats{Active: int(s.active.Load()), Total: s.total.Load(), BytesOut: s.bytesOut.Load()}
}

// Viewers returns how many relays of key are being served now (the nodes
// pulling it from this one). It implements ports.ViewerCounter.
func (s *Server) Viewers(key stream.Key) int {
	s.perMu.Lock()
	defer s.perMu.Unlock()
	return s.perKey[key]
}

// serving counts one more relay of key (d = 1) or one less (d = -1).
func (s *Server) serving(key stream.Key, d int) {
	s.perMu.Lock()
	defer s.perMu.Unlock()
	if s.perKey[key] += d; s.perKey[key] <= 0 {
		delete(s.perKey, key)
	}
}

// Serve accepts edges until ctx is cancelled, then closes the listener and
// every connection. It listens first if Listen was not called. It returns
// after every connection's goroutine has ended: nil after ctx was
// cancelled, otherwise the error that stopped it.
func (s *Server) Serve(ctx context.Context) error {
	s.mu.Lock()
	served := s.served
	s.served = true
	s.mu.Unlock()
	if served {
		return ErrServing
	}
	if s.Addr() == nil {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ConnState: func(_ net.Conn, st http.ConnState) {
			switch st {
			case http.StateNew:
				s.conns.Add(1)
			case http.StateClosed, http.StateHijacked:
				s.conns.Done()
			}
		},
	}
	s.log.Info("relay listening", "addr", s.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(s.ln) }()
	var err error
	select {
	case <-ctx.Done():
		_ = srv.Close()
		<-errc
	case err = <-errc:
		_ = srv.Close()
		err = fmt.Errorf("relay: serve: %w", err)
	}
	s.conns.Wait()
	return err
}

// handlePull serves GET /relay/v1/{app}/{id}.
func (s *Server) handlePull(w http.ResponseWriter, r *http.Request) {
	key, err := stream.ParseKey(r.PathValue("app"), r.PathValue("id"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	log := s.log.With("stream", key.String(), "remote", r.RemoteAddr)
	edge, err := verify(s.cfg.Secret, bearer(r.Header.Get("Authorization")), key, s.now())
	if err != nil {
		log.Info("relay refused", "err", err)
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+Audience+`"`)
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	log = log.With("edge", edge)
	src, ok := s.streams.LocalStream(key)
	if !ok {
		http.Error(w, fmt.Sprintf("%s: %s is not live on this node", ports.ErrStreamNotFound, key), http.StatusNotFound)
		return
	}
	if r.Method == http.MethodHead {
		w.Header().Set("Content-Type", ContentType)
		w.WriteHeader(http.StatusOK)
		return
	}
	rd, err := src.Subscribe()
	if err != nil {
		http.Error(w, fmt.Sprintf("%s: %s has ended", ports.ErrStreamNotFound, key), http.StatusNotFound)
		return
	}
	defer rd.Close()
	s.active.Add(1)
	s.total.Add(1)
	s.serving(key, 1)
	defer s.active.Add(-1)
	defer s.serving(key, -1)

	log.Info("relay started")
	start := time.Now()
	n, err := s.relay(r.Context(), w, rd, src.Tracks())
	log.Info("relay ended", "err", err, "bytes", n, "dropped", rd.Dropped(), "duration", time.Since(start).Round(time.Millisecond))
}

// relay writes the header frame, then the reader's units until the stream
// ends (an end frame, nil), ctx is cancelled or a write fails.
func (s *Server) relay(ctx context.Context, w http.ResponseWriter, rd *media.Reader, tracks []media.Track) (uint64, error) {
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", ContentType)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")

	var written uint64
	count := func(n int, err error) error {
		written += uint64(n)
		s.bytesOut.Add(uint64(n))
		return err
	}
	// The write deadline is pushed forward at most every tenth of the
	// timeout, so each write gets between 90% and 100% of it.
	var deadlineSet time.Time
	extend := func() error {
		now := time.Now()
		if now.Sub(deadlineSet) < s.cfg.WriteTimeout/10 {
			return nil
		}
		deadlineSet = now
		return rc.SetWriteDeadline(now.Add(s.cfg.WriteTimeout))
	}
	flush := func() error {
		if err := extend(); err != nil {
			return err
		}
		return rc.Flush()
	}

	if err := extend(); err != nil {
		return 0, fmt.Errorf("set write deadline: %w", err)
	}
	w.WriteHeader(http.StatusOK)
	enc := NewEncoder(w)
	if err := count(enc.WriteHeader(tracks)); err != nil {
		return written, err
	}
	if err := flush(); err != nil {
		return written, err
	}
	for {
		u, err := s.next(ctx, rd)
		switch {
		case errors.Is(err, errIdle):
			if err := count(enc.WritePing()); err != nil {
				return written, err
			}
			if err := flush(); err != nil {
				return written, err
			}
			continue
		case errors.Is(err, media.ErrStreamClosed), errors.Is(err, media.ErrReaderClosed):
			// Only the stream closes our reader while we relay. (Stream.Close
			// closes reader queues before Done, so a reader can see
			// ErrReaderClosed when the stream ended.)
			if err := count(enc.WriteEnd()); err != nil {
				return written, err
			}
			return written, flush()
		case err != nil:
			return written, err
		}
		if err := extend(); err != nil {
			return written, err
		}
		if err := count(enc.WriteUnit(u)); err != nil {
			return written, err
		}
		// Batch under load: flush once the queue is drained.
		if rd.Queued() == 0 {
			if err := flush(); err != nil {
				return written, err
			}
		}
	}
}

// errIdle: no unit for a heartbeat interval.
var errIdle = errors.New("relay: idle")

// next returns the reader's next unit, or errIdle when none came for a
// heartbeat interval.
func (s *Server) next(ctx context.Context, rd *media.Reader) (*media.Unit, error) {
	if rd.Queued() > 0 {
		return rd.Next(ctx)
	}
	wctx, cancel := context.WithTimeout(ctx, s.cfg.Heartbeat)
	defer cancel()
	u, err := rd.Next(wctx)
	if err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		return nil, errIdle
	}
	return u, err
}
