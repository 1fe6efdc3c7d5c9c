package webrtc

import (
	"net/http"

	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
)

// handleWHIP publishes a stream: POST /{app}/whip/{id} with an SDP offer.
func (s *Server) handleWHIP(w http.ResponseWriter, r *http.Request) {
	s.cors(w)
	key, ok := pathKey(w, r)
	if !ok {
		return
	}
	offer, info, ok := s.readOffer(w, r)
	if !ok {
		return
	}
	if !info.sends("video") && !info.sends("audio") {
		http.Error(w, "the offer sends no audio or video", http.StatusBadRequest)
		return
	}
	pub, err := s.ingest.Publish(r.Context(), ports.PublishRequest{
		Key: key, PublishType: stream.PublishWebRTC, Query: requestQuery(r), RemoteAddr: r.RemoteAddr,
	})
	if err != nil {
		s.httpError(w, r, err)
		return
	}
	pb, err := s.newPublisher(key, pub, r.RemoteAddr, hooks{})
	if err != nil {
		s.httpError(w, r, err)
		return
	}
	answer, err := pb.answerOffer(r.Context(), offer, info, false)
	if err != nil {
		pb.close(err)
		s.httpError(w, r, err)
		return
	}
	writeAnswer(w, "whip", key, pb.id, answer)
}
