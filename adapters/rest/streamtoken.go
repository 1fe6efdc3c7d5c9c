package rest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
)

// Stream tokens, for whoever enforces them on publish and play:
//
//   - one-time tokens are random ids kept in a ports.TokenStore
//     (CheckToken, UseToken);
//   - stream JWTs are HS256 tokens signed with the application's
//     jwtStreamSecretKey, with the claims Ant Media uses: "streamId",
//     "type" ("publish" or "play"), "exp" (Unix seconds) and optionally
//     "roomId" (SignStreamJWT, VerifyStreamJWT).
//
// Every check error wraps ports.ErrUnauthorized.

// streamClaims are a stream JWT's claims.
type streamClaims struct {
	StreamID string `json:"streamId"`
	Type     string `json:"type"`
	RoomID   string `json:"roomId,omitempty"`
	jwt.RegisteredClaims
}

// maxTokenLen bounds what the checks parse.
const maxTokenLen = 4096

// NewTokenID returns a random one-time token id (32 hex digits).
func NewTokenID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("token id: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// SignStreamJWT returns a JWT that lets a client of type typ into stream id
// until expires.
func SignStreamJWT(secret []byte, id stream.ID, typ stream.TokenType, roomID string, expires time.Time) (string, error) {
	if len(secret) < stream.MinJWTSecretLen {
		return "", fmt.Errorf("%w: JWT secret shorter than %d bytes", stream.ErrInvalidSettings, stream.MinJWTSecretLen)
	}
	c := streamClaims{StreamID: string(id), Type: string(typ), RoomID: roomID,
		RegisteredClaims: jwt.RegisteredClaims{ExpiresAt: jwt.NewNumericDate(expires)}}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("sign stream JWT: %w", err)
	}
	return tok, nil
}

// VerifyStreamJWT checks that token is an HS256 JWT signed with secret, for
// stream id and type typ, whose expiry is after now.
func VerifyStreamJWT(secret []byte, token string, id stream.ID, typ stream.TokenType, now time.Time) error {
	switch {
	case len(secret) == 0:
		return fmt.Errorf("%w: no JWT secret configured", ports.ErrUnauthorized)
	case token == "":
		return fmt.Errorf("%w: no token", ports.ErrUnauthorized)
	case len(token) > maxTokenLen:
		return fmt.Errorf("%w: token longer than %d bytes", ports.ErrUnauthorized, maxTokenLen)
	}
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	var c streamClaims
	if _, err := p.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return secret, nil }); err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return fmt.Errorf("%w: %w", ports.ErrUnauthorized, stream.ErrTokenExpired)
		}
		return fmt.Errorf("%w: invalid JWT: %v", ports.ErrUnauthorized, err)
	}
	if c.StreamID != string(id) || c.Type != string(typ) {
		return fmt.Errorf("%w: %w: JWT for %s %q", ports.ErrUnauthorized, stream.ErrTokenMismatch, c.Type, c.StreamID)
	}
	return nil
}

// CheckToken checks that the one-time token id lets a client of type typ
// into key at now, without using it up (HLS players ask many times).
func CheckToken(ctx context.Context, tokens ports.TokenStore, id string, key stream.Key, typ stream.TokenType, now time.Time) error {
	if id == "" || len(id) > maxTokenLen {
		return fmt.Errorf("%w: no token", ports.ErrUnauthorized)
	}
	t, err := tokens.Token(ctx, id)
	if errors.Is(err, ports.ErrNotFound) {
		return fmt.Errorf("%w: unknown token", ports.ErrUnauthorized)
	}
	if err != nil {
		return fmt.Errorf("check token: %w", err)
	}
	if err := t.Check(key, typ, now); err != nil {
		return fmt.Errorf("%w: %w", ports.ErrUnauthorized, err)
	}
	return nil
}

// UseToken is CheckToken that then deletes the token, so that it lets in
// one client only: of concurrent users of one token, one succeeds.
func UseToken(ctx context.Context, tokens ports.TokenStore, id string, key stream.Key, typ stream.TokenType, now time.Time) error {
	if err := CheckToken(ctx, tokens, id, key, typ, now); err != nil {
		return err
	}
	err := tokens.DeleteToken(ctx, id)
	if errors.Is(err, ports.ErrNotFound) {
		return fmt.Errorf("%w: token already used", ports.ErrUnauthorized)
	}
	if err != nil {
		return fmt.Errorf("use token: %w", err)
	}
	return nil
}
