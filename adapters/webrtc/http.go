package webrtc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
)

// cors sets the CORS headers of WHIP and WHEP answers.
func (s *Server) cors(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", s.cfg.AllowOrigin)
	h.Set("Access-Control-Expose-Headers", "Location, ETag, Accept-Post")
	if s.cfg.AllowOrigin != "*" {
		h.Add("Vary", "Origin")
	}
}

// handlePreflight answers CORS preflight requests (OPTIONS).
func (s *Server) handlePreflight(w http.ResponseWriter, _ *http.Request) {
	s.cors(w)
	h := w.Header()
	h.Set("Access-Control-Allow-Methods", "POST, DELETE, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, If-Match")
	h.Set("Access-Control-Max-Age", "86400")
	h.Set("Accept-Post", "application/sdp")
	w.WriteHeader(http.StatusNoContent)
}

// handlePatch refuses trickle ICE and ICE restarts: sessions are non-trickle.
func (s *Server) handlePatch(w http.ResponseWriter, _ *http.Request) {
	s.cors(w)
	w.Header().Set("Allow", "DELETE, OPTIONS")
	http.Error(w, "trickle ICE and ICE restart are not supported: send every candidate in the offer", http.StatusMethodNotAllowed)
}

// pathKey parses the stream key of a WHIP/WHEP path. It answers 404 for an
// invalid application name and 400 for an invalid stream id, and then
// returns false.
func pathKey(w http.ResponseWriter, r *http.Request) (stream.Key, bool) {
	app, err := stream.ParseApp(r.PathValue("app"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return stream.Key{}, false
	}
	id, err := stream.ParseID(r.PathValue("id"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return stream.Key{}, false
	}
	return stream.Key{App: app, ID: id}, true
}

// readOffer reads and checks an application/sdp offer; it answers the
// error itself and returns false when the offer is not usable.
func (s *Server) readOffer(w http.ResponseWriter, r *http.Request) (string, sdpInfo, bool) {
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || ct != "application/sdp" {
		http.Error(w, "the offer must be application/sdp", http.StatusUnsupportedMediaType)
		return "", sdpInfo{}, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxMessageBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, "offer too large", http.StatusRequestEntityTooLarge)
		} else {
			http.Error(w, "cannot read the offer", http.StatusBadRequest)
		}
		return "", sdpInfo{}, false
	}
	info, err := parseSDP(string(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return "", sdpInfo{}, false
	}
	return string(body), info, true
}

// requestQuery is the request's query, with a WHIP/WHEP bearer token as
// the token parameter when the query has none.
func requestQuery(r *http.Request) url.Values {
	q := r.URL.Query()
	if q.Get("token") == "" {
		if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && tok != "" {
			q.Set("token", tok)
		}
	}
	return q
}

// httpStatus maps an error to the status a WHIP/WHEP client gets.
func httpStatus(err error, q url.Values) int {
	switch {
	case errors.Is(err, errBadSDP):
		return http.StatusBadRequest
	case errors.Is(err, ports.ErrUnknownApp), errors.Is(err, ports.ErrStreamNotFound), errors.Is(err, errNoRendition):
		return http.StatusNotFound
	case errors.Is(err, ports.ErrStreamBusy):
		return http.StatusConflict
	case errors.Is(err, ports.ErrUnauthorized):
		if q.Get("token") != "" {
			return http.StatusForbidden
		}
		return http.StatusUnauthorized
	case errors.Is(err, ports.ErrRoleRefused):
		return http.StatusMisdirectedRequest
	case errors.Is(err, ports.ErrOverloaded), errors.Is(err, errServerClosed):
		return http.StatusServiceUnavailable
	case errors.Is(err, errNoPlayableTrack):
		return http.StatusNotAcceptable
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func (s *Server) httpError(w http.ResponseWriter, r *http.Request, err error) {
	code := httpStatus(err, requestQuery(r))
	msg := err.Error()
	switch {
	case code == http.StatusMisdirectedRequest:
		msg = "this node does not serve this request (its role refuses it): " + msg
	case code == http.StatusInternalServerError:
		s.log.Error("WHIP/WHEP request failed", "path", r.URL.Path, "err", err)
		msg = "internal error"
	}
	if code == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	http.Error(w, msg, code)
}

// writeAnswer answers 201 Created with the SDP answer and the session's resource.
func writeAnswer(w http.ResponseWriter, kind string, key stream.Key, id, answer string) {
	h := w.Header()
	h.Set("Content-Type", "application/sdp")
	h.Set("Location", fmt.Sprintf("/%s/%s/%s/%s", key.App, kind, key.ID, id))
	h.Set("ETag", `"`+id+`"`)
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, answer)
}

// handleDelete ends a WHIP (viewer false) or WHEP (viewer true) session.
func (s *Server) handleDelete(viewer bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.cors(w)
		key, ok := pathKey(w, r)
		if !ok {
			return
		}
		p, ok := s.session(r.PathValue("session"))
		if !ok || p.key != key || p.viewer != viewer {
			http.Error(w, "no such session", http.StatusNotFound)
			return
		}
		p.close(nil)
		t := time.NewTimer(5 * time.Second)
		defer t.Stop()
		select {
		case <-p.Done():
		case <-t.C:
		case <-r.Context().Done():
		}
		w.WriteHeader(http.StatusOK)
	}
}
