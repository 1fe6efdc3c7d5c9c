package relay

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
)

// Relay tokens are short-lived HS256 JWTs signed with the cluster secret:
// subject the stream key "app/id", audience Audience, issuer the pulling
// node's id.
const (
	// Audience is the audience of every relay token.
	Audience = "colony-relay"
	// DefaultTokenTTL is how long a relay token is valid.
	DefaultTokenTTL = 30 * time.Second
	// MinSecretLen is the shortest cluster secret accepted, in bytes.
	MinSecretLen = 16
	// tokenLeeway absorbs clock skew between nodes.
	tokenLeeway = 5 * time.Second
	// maxTokenLen bounds what Verify parses.
	maxTokenLen = 4096
)

// Token errors. Verify wraps them together with ports.ErrUnauthorized.
var (
	// ErrWeakSecret: the cluster secret is shorter than MinSecretLen bytes.
	ErrWeakSecret = fmt.Errorf("relay: cluster secret shorter than %d bytes", MinSecretLen)
	// ErrNoToken: the request carries no token.
	ErrNoToken = errors.New("relay: no token")
	// ErrBadToken: the token is malformed, forged, for another stream or audience, or uses another algorithm.
	ErrBadToken = errors.New("relay: invalid token")
	// ErrTokenExpired: the token was valid but has expired.
	ErrTokenExpired = errors.New("relay: token expired")
)

// Sign returns a token allowing node nodeID to pull key, valid from now for
// ttl (DefaultTokenTTL when ttl <= 0).
func Sign(secret []byte, key stream.Key, nodeID string, now time.Time, ttl time.Duration) (string, error) {
	if len(secret) < MinSecretLen {
		return "", ErrWeakSecret
	}
	if ttl <= 0 {
		ttl = DefaultTokenTTL
	}
	claims := jwt.RegisteredClaims{
		Issuer:    nodeID,
		Subject:   key.String(),
		Audience:  jwt.ClaimStrings{Audience},
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		IssuedAt:  jwt.NewNumericDate(now),
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("relay: sign token: %w", err)
	}
	return tok, nil
}

// Verify checks that token allows pulling key at now. Errors wrap
// ports.ErrUnauthorized and one of ErrNoToken, ErrBadToken, ErrTokenExpired
// (or ErrWeakSecret for a secret too short to check anything).
func Verify(secret []byte, token string, key stream.Key, now time.Time) error {
	_, err := verify(secret, token, key, now)
	return err
}

// verify is Verify that also returns the token's issuer (the pulling node).
func verify(secret []byte, token string, key stream.Key, now time.Time) (string, error) {
	if len(secret) < MinSecretLen {
		return "", ErrWeakSecret
	}
	if token == "" {
		return "", fmt.Errorf("%w: %w", ports.ErrUnauthorized, ErrNoToken)
	}
	if len(token) > maxTokenLen {
		return "", fmt.Errorf("%w: %w: longer than %d bytes", ports.ErrUnauthorized, ErrBadToken, maxTokenLen)
	}
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithAudience(Audience),
		jwt.WithSubject(key.String()),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(tokenLeeway),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	var claims jwt.RegisteredClaims
	_, err := p.ParseWithClaims(token, &claims, func(t *jwt.Token) (any, error) {
		if t.Method != jwt.SigningMethodHS256 {
			return nil, fmt.Errorf("algorithm %v", t.Header["alg"])
		}
		return secret, nil
	})
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return "", fmt.Errorf("%w: %w", ports.ErrUnauthorized, ErrTokenExpired)
	case err != nil:
		return "", fmt.Errorf("%w: %w: %v", ports.ErrUnauthorized, ErrBadToken, err)
	case claims.Issuer == "":
		return "", fmt.Errorf("%w: %w: no issuer", ports.ErrUnauthorized, ErrBadToken)
	}
	return claims.Issuer, nil
}

// bearer extracts the token of an "Authorization: Bearer <token>" header.
func bearer(h string) string {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}
