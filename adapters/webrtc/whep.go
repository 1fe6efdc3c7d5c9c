package webrtc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/core/stream"

	"github.com/colony-live/colony/ports"
)

// handleWHEP plays a stream: POST /{app}/whep/{id} with an SDP offer.
func (s *Server) handleWHEP(w http.ResponseWriter, r *http.Request) {
	s.cors(w)
	key, ok := pathKey(w, r)
	if !ok {
		return
	}
	offer, info, ok := s.readOffer(w, r)
	if !ok {
		return
	}
	if !info.receives("video") && !info.receives("audio") {
		http.Error(w, "the offer receives no audio or video", http.StatusBadRequest)
		return
	}
	q := requestQuery(r)
	height, err := parseQuality(q.Get("quality"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	st, err := s.play.Play(r.Context(), ports.PlayRequest{
		Key: key, Protocol: "webrtc", Query: q, RemoteAddr: r.RemoteAddr,
	})
	if err != nil {
		s.httpError(w, r, err)
		return
	}
	opts := playOpts{query: q}
	switchTo := 0
	if height > 0 {
		// ?quality=N pins the rendition of height N (the original at its
		// own height).
		if st, opts, switchTo, err = s.pinned(r.Context(), key, st, height, q); err != nil {
			s.httpError(w, r, err)
			return
		}
	}
	opts.dtlsServer = info.leavesDTLSRole()
	accept := func(kind, codec string) bool { return info.receives(kind) && info.hasCodec(kind, codec) }
	pl, err := s.newPlayer(r.Context(), key, st, r.RemoteAddr, hooks{}, accept, opts)
	if err != nil {
		s.httpError(w, r, err)
		return
	}
	pl.pinned.Store(height > 0)
	if switchTo > 0 {
		if err := pl.switchTo(r.Context(), switchTo); err != nil {
			pl.close(err)
			s.httpError(w, r, err)
			return
		}
	}
	answer, err := pl.answer(r.Context(), rewriteOffer(offer, info, false), false)
	if err != nil {
		pl.close(err)
		s.httpError(w, r, err)
		return
	}
	writeAnswer(w, "whep", key, pl.id, answer)
}

// pinned returns the stream a viewer pinned to the rendition of a height
// plays, given the original st, and the options saying so. A rendition
// with audio is played from the start; one without, while the original
// has audio, is switched to at its first keyframe (switchTo), the audio
// coming from the original.
func (s *Server) pinned(ctx context.Context, key stream.Key, st *media.Stream, height int, q url.Values) (_ *media.Stream, _ playOpts, switchTo int, _ error) {
	orig := 0
	for _, t := range st.Tracks() {
		if t.IsVideo() {
			orig = t.Height
			break
		}
	}
	opts := playOpts{query: q}
	if height == orig {
		return st, opts, 0, nil
	}
	rk, err := stream.ParseID(fmt.Sprintf("%s_%dp", key.ID, height))
	if err != nil {
		return nil, opts, 0, fmt.Errorf("%w: %w", errNoRendition, err)
	}
	rst, err := s.play.Play(ctx, ports.PlayRequest{Key: stream.Key{App: key.App, ID: rk}, Protocol: "webrtc", Query: q})
	if err != nil {
		if errors.Is(err, ports.ErrStreamNotFound) {
			return nil, opts, 0, fmt.Errorf("%w: %dp: %w", errNoRendition, height, err)
		}
		return nil, opts, 0, err
	}
	if hasAudio(st) && !hasAudio(rst) {
		return st, opts, height, nil
	}
	opts.height, opts.origHeight = height, orig
	return rst, opts, 0, nil
}

func hasAudio(st *media.Stream) bool {
	for _, t := range st.Tracks() {
		if !t.IsVideo() {
			return true
		}
	}
	return false
}
