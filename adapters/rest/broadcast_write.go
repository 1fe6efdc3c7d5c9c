package rest

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"

	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
)

// BroadcastInput is the Broadcast JSON a client sends to create or update
// (Ant Media's Broadcast and BroadcastUpdate): absent fields stay as they
// are. Other Broadcast fields are accepted and ignored.
type BroadcastInput struct {
	StreamID        *string            `json:"streamId"`
	Name            *string            `json:"name"`
	Type            *string            `json:"type"`
	EncoderSettings *[]EncoderSettings `json:"encoderSettingsList"`
}

// ladder validates and converts the input's encoder settings (nil when absent).
func (in BroadcastInput) ladder() ([]stream.Rendition, error) {
	if in.EncoderSettings == nil {
		return nil, nil
	}
	out := make([]stream.Rendition, 0, len(*in.EncoderSettings))
	for _, e := range *in.EncoderSettings {
		out = append(out, e.rendition())
	}
	if err := stream.ValidateLadder(out); err != nil {
		return nil, err
	}
	return out, nil
}

func (e EncoderSettings) rendition() stream.Rendition {
	return stream.Rendition{Height: e.Height, VideoBitrate: e.VideoBitrate, AudioBitrate: e.AudioBitrate, ForceEncode: e.ForceEncode}
}

func encoderSettings(ladder []stream.Rendition) []EncoderSettings {
	out := make([]EncoderSettings, 0, len(ladder))
	for _, r := range ladder {
		out = append(out, EncoderSettings{Height: r.Height, VideoBitrate: r.VideoBitrate, AudioBitrate: r.AudioBitrate, ForceEncode: r.ForceEncode})
	}
	return out
}

// maxNameLen bounds a broadcast's name.
const maxNameLen = 256

func (in BroadcastInput) check() error {
	if in.Type != nil && *in.Type != "" && *in.Type != "liveStream" {
		return fmt.Errorf("type %q is not supported (only liveStream)", *in.Type)
	}
	if in.Name != nil && len(*in.Name) > maxNameLen {
		return fmt.Errorf("name longer than %d bytes", maxNameLen)
	}
	return nil
}

// createBroadcast answers POST /{app}/rest/v2/broadcasts/create with the
// new record; with no streamId one is generated. An id in use: 400, as in
// Ant Media.
func (s *Server) createBroadcast(w http.ResponseWriter, r *http.Request, app stream.App) {
	var in BroadcastInput
	if err := decodeBody(w, r, &in); err != nil && !errors.Is(err, errEmptyBody) {
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	if err := in.check(); err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	var id stream.ID
	if in.StreamID != nil && *in.StreamID != "" {
		var err error
		if id, err = stream.ParseID(*in.StreamID); err != nil {
			fail(w, http.StatusBadRequest, err.Error())
			return
		}
	} else {
		id = newStreamID()
	}
	ladder, err := in.ladder()
	if err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	b := stream.NewBroadcast(stream.Key{App: app, ID: id}, s.cfg.Now())
	if in.Name != nil && *in.Name != "" {
		b.Name = *in.Name
	}
	b.Ladder = ladder
	if err := s.catalog.CreateBroadcast(r.Context(), b); err != nil {
		if errors.Is(err, ports.ErrConflict) {
			fail(w, http.StatusBadRequest, "stream id is already in use")
			return
		}
		storeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, toJSON(b))
}

// newStreamID returns a random id of 12 lower-case letters and digits.
func newStreamID() stream.ID {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return stream.ID(b)
}

// updateBroadcast answers PUT /{app}/rest/v2/broadcasts/{id}: it sets the
// fields present (name, encoderSettingsList).
func (s *Server) updateBroadcast(w http.ResponseWriter, r *http.Request, key stream.Key) {
	var in BroadcastInput
	if err := decodeBody(w, r, &in); err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	if err := in.check(); err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	ladder, err := in.ladder()
	if err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	now := s.cfg.Now()
	_, err = s.catalog.UpdateBroadcast(r.Context(), key, false, now, func(b *stream.Broadcast) error {
		if in.Name != nil && *in.Name != "" {
			b.Name = *in.Name
		}
		if in.EncoderSettings != nil {
			b.Ladder = ladder
		}
		b.UpdatedAt = now
		return nil
	})
	if err != nil {
		storeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, Result{Success: true, DataID: string(key.ID)})
}

// deleteBroadcast answers DELETE /{app}/rest/v2/broadcasts/{id}: it stops
// the publisher if it publishes here, then removes the record and its
// tokens. A broadcast live on another node is forwarded there (in a
// cluster), else 409 (stop it there first).
func (s *Server) deleteBroadcast(w http.ResponseWriter, r *http.Request, key stream.Key) {
	b, err := s.catalog.Broadcast(r.Context(), key)
	if err != nil {
		storeError(w, err)
		return
	}
	if !s.node.Stop(key) && b.Live() && b.OriginNode != "" && b.OriginNode != string(s.node.Self().ID) {
		if s.elsewhere(r, b) {
			s.forward(w, r, b) // the origin stops the publisher and deletes
			return
		}
		fail(w, http.StatusConflict, "stream is live on node "+b.OriginNode+": stop it there first")
		return
	}
	if err := s.catalog.DeleteBroadcast(r.Context(), key); err != nil {
		storeError(w, err)
		return
	}
	if s.cfg.Settings != nil {
		if _, err := s.cfg.Settings.DeleteTokens(r.Context(), key); err != nil {
			s.log.Warn("cannot delete the tokens of a deleted broadcast", "stream", key.String(), "err", err)
		}
	}
	writeJSON(w, http.StatusOK, Result{Success: true, DataID: string(key.ID)})
}
