package webrtc

import (
	"net/http"

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
	st, err := s.play.Play(r.Context(), ports.PlayRequest{
		Key: key, Protocol: "webrtc", Query: requestQuery(r), RemoteAddr: r.RemoteAddr,
	})
	if err != nil {
		s.httpError(w, r, err)
		return
	}
	accept := func(kind, codec string) bool { return info.receives(kind) && info.hasCodec(kind, codec) }
	pl, err := s.newPlayer(r.Context(), key, st, r.RemoteAddr, hooks{}, accept)
	if err != nil {
		s.httpError(w, r, err)
		return
	}
	answer, err := pl.answer(r.Context(), offer, false)
	if err != nil {
		pl.close(err)
		s.httpError(w, r, err)
		return
	}
	writeAnswer(w, "whep", key, pl.id, answer)
}
