package rest

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
)

// Token is Ant Media's Token JSON. For a JWT, tokenId is the JWT.
type Token struct {
	TokenID    string `json:"tokenId"`
	StreamID   string `json:"streamId"`
	ExpireDate int64  `json:"expireDate"` // Unix seconds
	Type       string `json:"type"`
	RoomID     string `json:"roomId,omitempty"`
}

// maxRoomIDLen bounds the roomId query parameter.
const maxRoomIDLen = 128

// tokenRequest parses ?expireDate=<unix seconds>&type=publish|play[&roomId=].
func (s *Server) tokenRequest(r *http.Request) (typ stream.TokenType, expires time.Time, room string, err error) {
	q := r.URL.Query()
	typ, err = stream.ParseTokenType(q.Get("type"))
	if err != nil {
		return "", time.Time{}, "", err
	}
	sec, err := strconv.ParseInt(q.Get("expireDate"), 10, 64)
	if err != nil {
		return "", time.Time{}, "", fmt.Errorf("expireDate must be a Unix time in seconds")
	}
	expires = time.Unix(sec, 0)
	if !expires.After(s.cfg.Now()) {
		return "", time.Time{}, "", fmt.Errorf("expireDate must be in the future")
	}
	room = q.Get("roomId")
	if len(room) > maxRoomIDLen {
		return "", time.Time{}, "", fmt.Errorf("roomId longer than %d bytes", maxRoomIDLen)
	}
	return typ, expires, room, nil
}

// settingsOK answers 501 and reports false when no settings store is configured.
func (s *Server) settingsOK(w http.ResponseWriter) bool {
	if s.cfg.Settings == nil {
		fail(w, http.StatusNotImplemented, "settings store not configured")
		return false
	}
	return true
}

// createToken answers GET /{app}/rest/v2/broadcasts/{id}/token: a random
// one-time token, stored for the stream (which need not exist yet: a
// publish creates it).
func (s *Server) createToken(w http.ResponseWriter, r *http.Request, key stream.Key) {
	if !s.settingsOK(w) {
		return
	}
	typ, expires, room, err := s.tokenRequest(r)
	if err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	for range 3 { // a clash of 128-bit ids is not going to happen, but be correct
		id, err := NewTokenID()
		if err != nil {
			fail(w, http.StatusInternalServerError, "cannot create token")
			return
		}
		t := stream.Token{ID: id, Key: key, Type: typ, ExpiresAt: expires, RoomID: room}
		err = s.cfg.Settings.CreateToken(r.Context(), t)
		if errors.Is(err, ports.ErrConflict) {
			continue
		}
		if err != nil {
			storeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, Token{TokenID: id, StreamID: string(key.ID), ExpireDate: expires.Unix(), Type: string(typ), RoomID: room})
		return
	}
	fail(w, http.StatusInternalServerError, "cannot create token")
}

// createJWTToken answers GET /{app}/rest/v2/broadcasts/{id}/jwt-token: a
// JWT signed with the application's jwtStreamSecretKey.
func (s *Server) createJWTToken(w http.ResponseWriter, r *http.Request, key stream.Key) {
	if !s.settingsOK(w) {
		return
	}
	typ, expires, room, err := s.tokenRequest(r)
	if err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	set, err := s.cfg.Settings.AppSettings(r.Context(), key.App)
	if err != nil {
		storeError(w, err)
		return
	}
	if set.JWTSecret == "" {
		fail(w, http.StatusBadRequest, "jwtStreamSecretKey is not set for this application")
		return
	}
	tok, err := SignStreamJWT([]byte(set.JWTSecret), key.ID, typ, room, expires)
	if err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, Token{TokenID: tok, StreamID: string(key.ID), ExpireDate: expires.Unix(), Type: string(typ), RoomID: room})
}

// revokeTokens answers DELETE /{app}/rest/v2/broadcasts/{id}/tokens.
func (s *Server) revokeTokens(w http.ResponseWriter, r *http.Request, key stream.Key) {
	if !s.settingsOK(w) {
		return
	}
	n, err := s.cfg.Settings.DeleteTokens(r.Context(), key)
	if err != nil {
		storeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, Result{Success: true, DataID: string(key.ID), Message: strconv.Itoa(n) + " tokens deleted"})
}
