package hls

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
)

// retryAfter is the Retry-After of a stream that is not ready yet.
const retryAfter = 2 * time.Second

// errNotReady: the stream exists but has no segments yet.
var errNotReady = errors.New("stream not ready")

// errClosed: the server is shutting down.
var errClosed = errors.New("server closed")

// ServeHTTP serves /{app}/streams/{id}.m3u8 and the files it references
// (see paths.go for the layout).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rw := s.writer(w, r)
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodOptions:
		s.preflight(rw, r)
		return
	default:
		rw.Header().Set("Allow", "GET, HEAD, OPTIONS")
		httpError(rw, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	t, ok := parseTarget(r.URL)
	if !ok {
		notFound(rw)
		return
	}
	s.serveTarget(rw, r, t)
}

// Route returns a handler that answers the GETs of valid HLS paths itself
// and hands every other request to next. With LL-HLS viewers these are
// thousands of requests a second, and the route spares them the mux's
// pattern matching (3 % of the server's cycles at 200 LL-HLS viewers).
// Whatever it hands on reaches ServeHTTP through next's own route to this
// server, as before.
func (s *Server) Route(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			next.ServeHTTP(w, r)
			return
		}
		t, ok := parseTarget(r.URL)
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		s.serveTarget(s.writer(w, r), r, t)
	})
}

// writer counts a request and returns its response writer, with the CORS
// headers set.
func (s *Server) writer(w http.ResponseWriter, r *http.Request) *respWriter {
	s.requests.Add(1)
	rw := &respWriter{ResponseWriter: w, bytesOut: &s.bytesOut, conn: connFrom(r)}
	s.setCORS(rw.Header())
	return rw
}

// serveTarget answers a GET or HEAD of t.
func (s *Server) serveTarget(rw *respWriter, r *http.Request, t target) {
	if t.adaptive {
		s.serveAdaptive(rw, r, t.key)
		return
	}
	if t.main {
		s.serveMultivariant(rw, r, t.key)
		return
	}
	sm := s.byPrefix(t.prefix)
	if sm == nil || sm.key.App != t.app {
		notFound(rw)
		return
	}
	s.serveFile(rw, r, sm, t.file)
}

func (s *Server) setCORS(h http.Header) {
	h["Access-Control-Allow-Origin"] = s.allowOrigin
	if s.cfg.AllowOrigin != "*" {
		h.Add("Vary", "Origin")
	}
	h["Access-Control-Expose-Headers"] = s.corsExpose
}

func (s *Server) preflight(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
	if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
		h.Set("Access-Control-Allow-Headers", req)
	}
	h.Set("Access-Control-Max-Age", "86400")
	w.WriteHeader(http.StatusNoContent)
}

// serveMultivariant answers the playlist players are given. It asks
// Playback for the stream every time (that checks the token, and on an edge
// starts the pull), waits for the stream's first segments, and rewrites
// the media playlist names so that they route back to this stream's muxer.
func (s *Server) serveMultivariant(w http.ResponseWriter, r *http.Request, key stream.Key) {
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.ReadyTimeout)
	defer cancel()
	src, err := s.play.Play(ctx, ports.PlayRequest{
		Key: key, Protocol: "hls", Query: r.URL.Query(), RemoteAddr: r.RemoteAddr,
	})
	if err != nil {
		s.playError(w, r, key, err)
		return
	}
	sm, err := s.waitReady(ctx, key, src)
	if err != nil {
		s.playError(w, r, key, err)
		return
	}
	// gohlslib repeats the query in every URI it lists (a token, a
	// session id); re-encoded, it cannot break out of a URI="..." attribute.
	mv := sm.get("index.m3u8", r.URL.Query().Encode()) // does not block: the muxer has content
	if mv.status != http.StatusOK {
		notFound(w) // closed meanwhile
		return
	}
	body := rewriteMultivariant(mv.bytes(), sm.prefix)
	sm.viewers.touch(clientID(r), s.now())
	h := w.Header()
	// Not cached: after a republish the same URL names another muxer.
	h.Set("Cache-Control", "no-cache")
	h.Set("Content-Type", "application/vnd.apple.mpegurl")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// waitReady waits for key's muxer to have its first segments. src is what
// Playback returned: when no muxer follows it yet, Attach is called here (a
// no-op if the engine attaches the same stream too).
func (s *Server) waitReady(ctx context.Context, key stream.Key, src *media.Stream) (*streamMuxer, error) {
	attached := false
	var srcDone <-chan struct{}
	if src != nil {
		srcDone = src.Done()
	}
	for {
		sm, changed, closed := s.lookup(key)
		switch {
		case closed:
			return nil, errClosed
		case sm == nil && src != nil && !attached:
			attached = true
			if err := s.attach(key, src); errors.Is(err, errNoTracks) {
				return nil, fmt.Errorf("%w: %w", ports.ErrStreamNotFound, err)
			} else if err != nil {
				s.log.Warn("stream not muxed", "stream", key.String(), "err", err)
			}
			continue
		case sm == nil:
			select {
			case <-changed:
				continue
			case <-srcDone:
				return nil, ports.ErrStreamNotFound
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		select {
		case <-sm.ready:
			return sm, nil
		case <-sm.done:
			// Ended; a new publication may already have replaced it.
		case <-srcDone:
			return nil, ports.ErrStreamNotFound
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// playError maps a Play or wait error to a status.
func (s *Server) playError(w http.ResponseWriter, r *http.Request, key stream.Key, err error) {
	switch {
	case errors.Is(err, ports.ErrStreamNotFound), errors.Is(err, ports.ErrUnknownApp),
		errors.Is(err, ports.ErrRoleRefused):
		notFound(w)
	case errors.Is(err, ports.ErrUnauthorized):
		if r.URL.Query().Has("token") {
			httpError(w, http.StatusForbidden, "forbidden")
		} else {
			httpError(w, http.StatusUnauthorized, "unauthorized")
		}
	case errors.Is(err, ports.ErrOverloaded), errors.Is(err, errClosed):
		httpError(w, http.StatusServiceUnavailable, "unavailable")
	case errors.Is(err, context.DeadlineExceeded) && r.Context().Err() == nil:
		w.Header().Set("Retry-After", strconv.Itoa(int(retryAfter/time.Second)))
		httpError(w, http.StatusServiceUnavailable, errNotReady.Error())
	case r.Context().Err() != nil:
		// The client went away; nobody reads the answer.
		w.WriteHeader(http.StatusServiceUnavailable)
	default:
		s.log.Warn("HLS play failed", "stream", key.String(), "err", err)
		httpError(w, http.StatusInternalServerError, "internal error")
	}
}

// serveFile answers a file of sm's muxer: a media playlist, init file,
// segment or part. Playlists come from their feed and media files from
// the file cache; gohlslib itself answers only what these do not hold
// (files of segments on disk, or a part a lagging feed never listed).
func (s *Server) serveFile(w *respWriter, r *http.Request, sm *streamMuxer, file string) {
	if f := sm.feeds[file]; f != nil {
		s.servePlaylist(w, r, sm, f)
		return
	}
	if sm.files != nil {
		if sf := sm.files.get(file); sf != nil {
			sf.write(w)
			return
		}
		if s.waitHint(w, r, sm, file) {
			return
		}
	}
	req := r.Clone(context.WithoutCancel(r.Context()))
	req.URL.Path = "/" + file
	req.URL.RawPath = ""
	req.URL.RawQuery = req.URL.Query().Encode() // see serveMultivariant
	if blocks(file) {
		s.serveGuarded(r.Context(), w, req, sm)
	} else {
		sm.muxer.Handle(w, req)
		if w.status == 0 {
			notFound(w) // gohlslib writes nothing for a file it does not know
		}
	}
}

// blocks reports whether gohlslib may hold a request for file: media
// playlists (LL-HLS blocking reloads with _HLS_msn) and parts (the preload
// hint names a part that does not exist yet).
func blocks(file string) bool {
	return strings.HasSuffix(file, playlistExt) || strings.Contains(file, "_part")
}

// serveGuarded runs a request that may block inside gohlslib, which ignores
// the request's context, in a goroutine of the server's, and answers 503
// after ReadyTimeout or when the client goes away. The goroutine ends when the muxer produces what was
// asked or closes.
func (s *Server) serveGuarded(ctx context.Context, w http.ResponseWriter, req *http.Request, sm *streamMuxer) {
	buf := newBufferedWriter()
	done := make(chan struct{})
	if !s.goTracked(func() {
		defer close(done)
		sm.muxer.Handle(buf, req)
	}) {
		httpError(w, http.StatusServiceUnavailable, "unavailable")
		return
	}
	timer := time.NewTimer(s.cfg.ReadyTimeout)
	defer timer.Stop()
	select {
	case <-done:
		if buf.status == http.StatusOK && strings.HasSuffix(req.URL.Path, playlistExt) {
			if body, ok := fixPartHoldBack(buf.bytes()); ok {
				buf.replace(body)
			}
		}
		buf.copyTo(w)
	case <-timer.C:
		// A blocking reload that timed out (the source stalled, as during an
		// origin failover): answer the current playlist, as a non-blocking
		// reload would, so players keep polling instead of giving up.
		if nb, ok := withoutBlocking(req); ok && s.serveNow(w, nb, sm) {
			return
		}
		httpError(w, http.StatusServiceUnavailable, "timed out")
	case <-ctx.Done():
		w.WriteHeader(http.StatusServiceUnavailable) // the client went away
	}
}

// withoutBlocking returns req without the LL-HLS blocking-reload
// parameters, when it is a playlist request that had them.
func withoutBlocking(req *http.Request) (*http.Request, bool) {
	if !strings.HasSuffix(req.URL.Path, playlistExt) {
		return nil, false
	}
	q := req.URL.Query()
	if !q.Has("_HLS_msn") {
		return nil, false
	}
	q.Del("_HLS_msn")
	q.Del("_HLS_part")
	r2 := req.Clone(req.Context())
	r2.URL.RawQuery = q.Encode()
	return r2, true
}

// serveNow answers a non-blocking playlist request, giving up (false) if the
// muxer does not answer within a second.
func (s *Server) serveNow(w http.ResponseWriter, req *http.Request, sm *streamMuxer) bool {
	buf := newBufferedWriter()
	done := make(chan struct{})
	if !s.goTracked(func() {
		defer close(done)
		sm.muxer.Handle(buf, req)
	}) {
		return false
	}
	select {
	case <-done:
	case <-time.After(time.Second):
		return false
	}
	if buf.status != http.StatusOK {
		return false
	}
	if body, ok := fixPartHoldBack(buf.bytes()); ok {
		buf.replace(body)
	}
	buf.copyTo(w)
	return true
}
