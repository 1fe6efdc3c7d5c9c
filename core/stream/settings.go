package stream

import (
	"errors"
	"fmt"
	"time"
)

// Ladder limits: a rung must be 1..MaxRungHeight lines tall and its
// bitrates 0..MaxRungBitrate bits per second; a ladder has at most MaxRungs
// rungs, of distinct heights.
const (
	MaxRungHeight  = 4320
	MaxRungBitrate = 100_000_000
	MaxRungs       = 8
)

// MinJWTSecretLen is the shortest JWT stream secret accepted, in bytes (HS256
// wants a key as long as its hash; Ant Media asks for 32 characters too).
const MinJWTSecretLen = 32

// ErrInvalidSettings is returned (wrapped) for settings or a ladder that cannot be used.
var ErrInvalidSettings = errors.New("invalid settings")

// AppSettings are one application's settings, named after Ant Media's
// AppSettings fields.
type AppSettings struct {
	// HLSMuxingEnabled: streams of the app are served over HLS (default true).
	HLSMuxingEnabled bool
	// WebRTCEnabled: streams of the app are served over WebRTC (default true).
	WebRTCEnabled bool
	// Ladder is the app's ABR ladder (Ant Media's encoderSettings); empty: no transcoding.
	Ladder []Rendition
	// PublishTokenControl and PlayTokenControl require a one-time token to publish or play.
	PublishTokenControl bool
	PlayTokenControl    bool
	// PublishJWTControl and PlayJWTControl require a JWT signed with JWTSecret.
	PublishJWTControl bool
	PlayJWTControl    bool
	// JWTSecret signs and checks stream JWTs (Ant Media's jwtStreamSecretKey).
	JWTSecret string
	// UpdatedAt is when the settings were last saved; zero for defaults.
	UpdatedAt time.Time
}

// DefaultAppSettings are the settings of an application nobody configured.
func DefaultAppSettings() AppSettings {
	return AppSettings{HLSMuxingEnabled: true, WebRTCEnabled: true}
}

// Validate checks the ladder and that JWT control has a long enough secret.
func (s AppSettings) Validate() error {
	if err := ValidateLadder(s.Ladder); err != nil {
		return err
	}
	if (s.PublishJWTControl || s.PlayJWTControl) && len(s.JWTSecret) < MinJWTSecretLen {
		return fmt.Errorf("%w: JWT control needs a secret of at least %d characters", ErrInvalidSettings, MinJWTSecretLen)
	}
	if len(s.JWTSecret) > 0 && len(s.JWTSecret) < MinJWTSecretLen {
		return fmt.Errorf("%w: JWT secret shorter than %d characters", ErrInvalidSettings, MinJWTSecretLen)
	}
	return nil
}

// ValidateLadder checks an ABR ladder's rungs.
func ValidateLadder(ladder []Rendition) error {
	if len(ladder) > MaxRungs {
		return fmt.Errorf("%w: %d rungs, at most %d", ErrInvalidSettings, len(ladder), MaxRungs)
	}
	seen := make(map[int]bool, len(ladder))
	for i, r := range ladder {
		switch {
		case r.Height < 1 || r.Height > MaxRungHeight:
			return fmt.Errorf("%w: rung %d: height %d not in 1..%d", ErrInvalidSettings, i, r.Height, MaxRungHeight)
		case r.VideoBitrate < 0 || r.VideoBitrate > MaxRungBitrate:
			return fmt.Errorf("%w: rung %d: video bitrate %d not in 0..%d", ErrInvalidSettings, i, r.VideoBitrate, MaxRungBitrate)
		case r.AudioBitrate < 0 || r.AudioBitrate > MaxRungBitrate:
			return fmt.Errorf("%w: rung %d: audio bitrate %d not in 0..%d", ErrInvalidSettings, i, r.AudioBitrate, MaxRungBitrate)
		case seen[r.Height]:
			return fmt.Errorf("%w: rung %d: height %d appears twice", ErrInvalidSettings, i, r.Height)
		}
		seen[r.Height] = true
	}
	return nil
}

// TokenType says what a stream token allows.
type TokenType string

// The token types, as Ant Media names them.
const (
	TokenPublish TokenType = "publish"
	TokenPlay    TokenType = "play"
)

// ErrInvalidTokenType is returned (wrapped) by ParseTokenType.
var ErrInvalidTokenType = errors.New("invalid token type")

// ParseTokenType validates a token type name.
func ParseTokenType(s string) (TokenType, error) {
	switch t := TokenType(s); t {
	case TokenPublish, TokenPlay:
		return t, nil
	}
	return "", fmt.Errorf("%w %q (want publish or play)", ErrInvalidTokenType, truncate(s))
}

// Token is a one-time stream token (Ant Media's Token): it lets one
// publisher or viewer of Key in until ExpiresAt.
type Token struct {
	ID        string
	Key       Key
	Type      TokenType
	ExpiresAt time.Time
	RoomID    string
}

// Token check errors.
var (
	// ErrTokenExpired: the token's expiry has passed.
	ErrTokenExpired = errors.New("token expired")
	// ErrTokenMismatch: the token is for another stream or another use.
	ErrTokenMismatch = errors.New("token is for another stream or use")
)

// Check reports whether t lets a client of type typ into key at now.
func (t Token) Check(key Key, typ TokenType, now time.Time) error {
	if t.Key != key || t.Type != typ {
		return fmt.Errorf("%w: token for %s %s, asked %s %s", ErrTokenMismatch, t.Type, t.Key, typ, key)
	}
	if !now.Before(t.ExpiresAt) {
		return fmt.Errorf("%w at %s", ErrTokenExpired, t.ExpiresAt.UTC().Format(time.RFC3339))
	}
	return nil
}
