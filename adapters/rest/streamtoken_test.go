package rest

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
)

func TestVerifyStreamJWT(t *testing.T) {
	secret := []byte(testStreamSecret)
	exp := now.Add(time.Hour)
	good, err := SignStreamJWT(secret, "s1", stream.TokenPublish, "", exp)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(method jwt.SigningMethod, key any, claims jwt.Claims) string {
		t.Helper()
		s, err := jwt.NewWithClaims(method, claims).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	noExp := sign(jwt.SigningMethodHS256, secret, jwt.MapClaims{"streamId": "s1", "type": "publish"})
	hs512 := sign(jwt.SigningMethodHS512, secret, jwt.MapClaims{"streamId": "s1", "type": "publish", "exp": exp.Unix()})
	none := sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, jwt.MapClaims{"streamId": "s1", "type": "publish", "exp": exp.Unix()})
	other, _ := SignStreamJWT([]byte(strings.Repeat("o", 32)), "s1", stream.TokenPublish, "", exp)
	tests := []struct {
		name   string
		secret []byte
		token  string
		id     stream.ID
		typ    stream.TokenType
		at     time.Time
		want   error
	}{
		{"valid", secret, good, "s1", stream.TokenPublish, now, nil},
		{"other stream", secret, good, "s2", stream.TokenPublish, now, stream.ErrTokenMismatch},
		{"other type", secret, good, "s1", stream.TokenPlay, now, stream.ErrTokenMismatch},
		{"expired", secret, good, "s1", stream.TokenPublish, exp.Add(time.Second), stream.ErrTokenExpired},
		{"other secret", secret, other, "s1", stream.TokenPublish, now, ports.ErrUnauthorized},
		{"tampered", secret, good[:len(good)-2] + "xx", "s1", stream.TokenPublish, now, ports.ErrUnauthorized},
		{"no expiry", secret, noExp, "s1", stream.TokenPublish, now, ports.ErrUnauthorized},
		{"HS512", secret, hs512, "s1", stream.TokenPublish, now, ports.ErrUnauthorized},
		{"alg none", secret, none, "s1", stream.TokenPublish, now, ports.ErrUnauthorized},
		{"empty", secret, "", "s1", stream.TokenPublish, now, ports.ErrUnauthorized},
		{"garbage", secret, "a.b.c", "s1", stream.TokenPublish, now, ports.ErrUnauthorized},
		{"huge", secret, strings.Repeat("a", 5000), "s1", stream.TokenPublish, now, ports.ErrUnauthorized},
		{"no secret", nil, good, "s1", stream.TokenPublish, now, ports.ErrUnauthorized},
	}
	for _, tt := range tests {
		err := VerifyStreamJWT(tt.secret, tt.token, tt.id, tt.typ, tt.at)
		switch {
		case tt.want == nil && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.want != nil && (!errors.Is(err, tt.want) || !errors.Is(err, ports.ErrUnauthorized)):
			t.Errorf("%s: err = %v, want %v and ErrUnauthorized", tt.name, err, tt.want)
		}
	}
	if _, err := SignStreamJWT([]byte("short"), "s1", stream.TokenPlay, "", exp); err == nil {
		t.Error("SignStreamJWT with a short secret succeeded")
	}
}

func FuzzVerifyStreamJWT(f *testing.F) {
	secret := []byte(testStreamSecret)
	good, _ := SignStreamJWT(secret, "s1", stream.TokenPlay, "", now.Add(time.Hour))
	for _, s := range []string{good, "", "a.b.c", "eyJhbGciOiJub25lIn0.e30.", good + "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		err := VerifyStreamJWT(secret, tok, "s1", stream.TokenPlay, now)
		if err == nil && tok != good {
			// Another valid encoding of the same claims would need the secret.
			if _, perr := jwt.Parse(tok, func(*jwt.Token) (any, error) { return secret, nil }, jwt.WithTimeFunc(func() time.Time { return now })); perr != nil {
				t.Fatalf("VerifyStreamJWT accepted %q that jwt rejects: %v", tok, perr)
			}
		}
		if err != nil && !errors.Is(err, ports.ErrUnauthorized) {
			t.Fatalf("error %v does not wrap ErrUnauthorized", err)
		}
	})
}
