package relay

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
)

var (
	testSecret = []byte("0123456789abcdef-cluster")
	testKey    = stream.Key{App: "LiveApp", ID: "cam1"}
	t0         = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
)

func mustSign(t *testing.T, secret []byte, key stream.Key, node string, now time.Time, ttl time.Duration) string {
	t.Helper()
	tok, err := Sign(secret, key, node, now, ttl)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return tok
}

// rawToken signs arbitrary claims with any method.
func rawToken(t *testing.T, m jwt.SigningMethod, key any, claims jwt.Claims) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(m, claims).SignedString(key)
	if err != nil {
		t.Fatalf("sign raw token: %v", err)
	}
	return tok
}

func TestVerify(t *testing.T) {
	good := jwt.RegisteredClaims{Issuer: "edge-1", Subject: testKey.String(), Audience: jwt.ClaimStrings{Audience},
		ExpiresAt: jwt.NewNumericDate(t0.Add(30 * time.Second)), IssuedAt: jwt.NewNumericDate(t0)}
	with := func(f func(*jwt.RegisteredClaims)) jwt.RegisteredClaims { c := good; f(&c); return c }
	tests := []struct {
		name  string
		token string
		now   time.Time
		want  error // nil: accepted
	}{
		{"valid", mustSign(t, testSecret, testKey, "edge-1", t0, 0), t0.Add(time.Second), nil},
		{"valid at the end of its ttl", mustSign(t, testSecret, testKey, "edge-1", t0, 0), t0.Add(29 * time.Second), nil},
		{"slightly early clock", mustSign(t, testSecret, testKey, "edge-1", t0, 0), t0.Add(-2 * time.Second), nil},
		{"empty", "", t0, ErrNoToken},
		{"garbage", "not.a.jwt", t0, ErrBadToken},
		{"too long", strings.Repeat("a", maxTokenLen+1), t0, ErrBadToken},
		{"other secret", mustSign(t, []byte("another-secret-of-16+bytes"), testKey, "edge-1", t0, 0), t0, ErrBadToken},
		{"other stream", mustSign(t, testSecret, stream.Key{App: "LiveApp", ID: "cam2"}, "edge-1", t0, 0), t0, ErrBadToken},
		{"expired", mustSign(t, testSecret, testKey, "edge-1", t0, 30*time.Second), t0.Add(40 * time.Second), ErrTokenExpired},
		{"issued in the future", mustSign(t, testSecret, testKey, "edge-1", t0.Add(time.Minute), 0), t0, ErrBadToken},
		{"alg none", rawToken(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, good), t0, ErrBadToken},
		{"HS512", rawToken(t, jwt.SigningMethodHS512, testSecret, good), t0, ErrBadToken},
		{"other audience", rawToken(t, jwt.SigningMethodHS256, testSecret, with(func(c *jwt.RegisteredClaims) { c.Audience = jwt.ClaimStrings{"colony-rest"} })), t0, ErrBadToken},
		{"no expiry", rawToken(t, jwt.SigningMethodHS256, testSecret, with(func(c *jwt.RegisteredClaims) { c.ExpiresAt = nil })), t0, ErrBadToken},
		{"no issuer", rawToken(t, jwt.SigningMethodHS256, testSecret, with(func(c *jwt.RegisteredClaims) { c.Issuer = "" })), t0, ErrBadToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Verify(testSecret, tt.token, testKey, tt.now)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			if !errors.Is(err, tt.want) || !errors.Is(err, ports.ErrUnauthorized) {
				t.Fatalf("Verify = %v, want %v wrapping ports.ErrUnauthorized", err, tt.want)
			}
		})
	}
}

func TestTokenClaims(t *testing.T) {
	tok := mustSign(t, testSecret, testKey, "edge-7", t0, 0)
	var c jwt.RegisteredClaims
	if _, _, err := jwt.NewParser().ParseUnverified(tok, &c); err != nil {
		t.Fatal(err)
	}
	if c.Subject != "LiveApp/cam1" || c.Issuer != "edge-7" || len(c.Audience) != 1 || c.Audience[0] != Audience ||
		!c.IssuedAt.Equal(t0) || !c.ExpiresAt.Equal(t0.Add(DefaultTokenTTL)) {
		t.Errorf("claims = %+v", c)
	}
	if issuer, err := verify(testSecret, tok, testKey, t0); err != nil || issuer != "edge-7" {
		t.Errorf("verify = %q, %v", issuer, err)
	}
}

func TestWeakSecret(t *testing.T) {
	short := []byte("fifteen-bytes!!")
	if _, err := Sign(short, testKey, "e", t0, 0); !errors.Is(err, ErrWeakSecret) {
		t.Errorf("Sign: %v", err)
	}
	if err := Verify(short, "x", testKey, t0); !errors.Is(err, ErrWeakSecret) {
		t.Errorf("Verify: %v", err)
	}
	if _, err := NewServer(ServerConfig{Secret: short}, newFakeStreams()); !errors.Is(err, ErrWeakSecret) {
		t.Errorf("NewServer: %v", err)
	}
	if _, err := NewPuller(PullerConfig{Secret: short, NodeID: "e"}); !errors.Is(err, ErrWeakSecret) {
		t.Errorf("NewPuller: %v", err)
	}
}

func TestBearer(t *testing.T) {
	for h, want := range map[string]string{"Bearer abc": "abc", "bearer  abc ": "abc", "Basic abc": "", "": "", "Bearer": ""} {
		if got := bearer(h); got != want {
			t.Errorf("bearer(%q) = %q, want %q", h, got, want)
		}
	}
}
