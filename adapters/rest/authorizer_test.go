package rest

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
	"github.com/colony-live/colony/ports/portstest"
)

// authEnv is an Authorizer over in-memory settings and a settable clock.
type authEnv struct {
	auth     *Authorizer
	settings *portstest.MemSettings
	clock    *fakeClock
}

func newAuthEnv(t *testing.T, set stream.AppSettings) *authEnv {
	t.Helper()
	e := &authEnv{settings: portstest.NewMemSettings(), clock: &fakeClock{t: now}}
	e.save(t, set)
	a, err := NewAuthorizer(AuthorizerConfig{Now: e.clock.Now, Logger: slog.New(slog.DiscardHandler)}, e.settings)
	if err != nil {
		t.Fatal(err)
	}
	e.auth = a
	return e
}

func (e *authEnv) save(t *testing.T, set stream.AppSettings) {
	t.Helper()
	if err := e.settings.SaveAppSettings(context.Background(), "LiveApp", set); err != nil {
		t.Fatal(err)
	}
}

// token stores a one-time token and returns its id.
func (e *authEnv) token(t *testing.T, id stream.ID, typ stream.TokenType, expires time.Time) string {
	t.Helper()
	tid, err := NewTokenID()
	if err != nil {
		t.Fatal(err)
	}
	if err := e.settings.CreateToken(context.Background(), stream.Token{ID: tid, Key: liveKey(id), Type: typ, ExpiresAt: expires}); err != nil {
		t.Fatal(err)
	}
	return tid
}

func liveKey(id stream.ID) stream.Key { return stream.Key{App: "LiveApp", ID: id} }

func tokenQ(tok string) url.Values {
	if tok == "" {
		return url.Values{}
	}
	return url.Values{"token": {tok}}
}

func (e *authEnv) publish(id stream.ID, tok string) error {
	return e.auth.AuthorizePublish(context.Background(), ports.PublishRequest{Key: liveKey(id), PublishType: stream.PublishRTMP, Query: tokenQ(tok)})
}

func (e *authEnv) play(id stream.ID, tok string) error {
	return e.auth.AuthorizePlay(context.Background(), ports.PlayRequest{Key: liveKey(id), Protocol: "hls", Query: tokenQ(tok)})
}

func signJWT(t *testing.T, id stream.ID, typ stream.TokenType, expires time.Time) string {
	t.Helper()
	tok, err := SignStreamJWT([]byte(testStreamSecret), id, typ, "", expires)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// wantAuth fails unless err is nil (want nil) or wraps ErrUnauthorized and want.
func wantAuth(t *testing.T, what string, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Errorf("%s: %v, want allowed", what, err)
	case want != nil && (!errors.Is(err, ports.ErrUnauthorized) || !errors.Is(err, want)):
		t.Errorf("%s: %v, want refused with %v", what, err, want)
	}
}

func TestNewAuthorizerNeedsSettings(t *testing.T) {
	if _, err := NewAuthorizer(AuthorizerConfig{}, nil); err == nil {
		t.Fatal("NewAuthorizer(nil settings) succeeded")
	}
}

func TestAuthorizerOpenApp(t *testing.T) {
	e := newAuthEnv(t, stream.DefaultAppSettings())
	wantAuth(t, "publish", e.publish("s1", ""), nil)
	wantAuth(t, "play", e.play("s1", ""), nil)
	wantAuth(t, "play with a junk token", e.play("s1", "junk"), nil)
}

func TestAuthorizerOneTimeTokens(t *testing.T) {
	set := stream.DefaultAppSettings()
	set.PublishTokenControl, set.PlayTokenControl = true, true
	exp := now.Add(time.Hour)
	tests := []struct {
		name string
		do   func(t *testing.T, e *authEnv) error
		want error // nil: allowed; else refused, wrapping this
	}{
		{"publish without token", func(t *testing.T, e *authEnv) error { return e.publish("s1", "") }, ports.ErrUnauthorized},
		{"publish unknown token", func(t *testing.T, e *authEnv) error { return e.publish("s1", "0123456789abcdef0123456789abcdef") }, ports.ErrUnauthorized},
		{"publish valid token", func(t *testing.T, e *authEnv) error {
			return e.publish("s1", e.token(t, "s1", stream.TokenPublish, exp))
		}, nil},
		{"publish token of another stream", func(t *testing.T, e *authEnv) error {
			return e.publish("s1", e.token(t, "s2", stream.TokenPublish, exp))
		}, stream.ErrTokenMismatch},
		{"publish with a play token", func(t *testing.T, e *authEnv) error {
			return e.publish("s1", e.token(t, "s1", stream.TokenPlay, exp))
		}, stream.ErrTokenMismatch},
		{"publish expired token", func(t *testing.T, e *authEnv) error {
			tok := e.token(t, "s1", stream.TokenPublish, exp)
			e.clock.Set(exp)
			return e.publish("s1", tok)
		}, stream.ErrTokenExpired},
		{"publish token used twice", func(t *testing.T, e *authEnv) error {
			tok := e.token(t, "s1", stream.TokenPublish, exp)
			if err := e.publish("s1", tok); err != nil {
				t.Fatalf("first use: %v", err)
			}
			return e.publish("s1", tok)
		}, ports.ErrUnauthorized},
		{"publish with a JWT", func(t *testing.T, e *authEnv) error {
			return e.publish("s1", signJWT(t, "s1", stream.TokenPublish, exp))
		}, ports.ErrUnauthorized},
		{"play without token", func(t *testing.T, e *authEnv) error { return e.play("s1", "") }, ports.ErrUnauthorized},
		{"play unknown token", func(t *testing.T, e *authEnv) error { return e.play("s1", "nosuch") }, ports.ErrUnauthorized},
		{"play valid token, many times", func(t *testing.T, e *authEnv) error {
			tok := e.token(t, "s1", stream.TokenPlay, exp)
			for range 3 {
				if err := e.play("s1", tok); err != nil {
					return err
				}
			}
			return nil
		}, nil},
		{"play token of another stream", func(t *testing.T, e *authEnv) error {
			return e.play("s1", e.token(t, "s2", stream.TokenPlay, exp))
		}, stream.ErrTokenMismatch},
		{"play with a publish token", func(t *testing.T, e *authEnv) error {
			return e.play("s1", e.token(t, "s1", stream.TokenPublish, exp))
		}, stream.ErrTokenMismatch},
		{"play expired token", func(t *testing.T, e *authEnv) error {
			tok := e.token(t, "s1", stream.TokenPlay, exp)
			if err := e.play("s1", tok); err != nil {
				t.Fatalf("before expiry: %v", err)
			}
			e.clock.Set(exp.Add(time.Second))
			return e.play("s1", tok)
		}, stream.ErrTokenExpired},
		{"play a rendition with the stream's token", func(t *testing.T, e *authEnv) error {
			return e.play("s1_480p", e.token(t, "s1", stream.TokenPlay, exp))
		}, nil},
		{"play a non-rendition with a prefix's token", func(t *testing.T, e *authEnv) error {
			return e.play("s1_extra", e.token(t, "s1", stream.TokenPlay, exp))
		}, stream.ErrTokenMismatch},
		{"play another stream's rendition", func(t *testing.T, e *authEnv) error {
			return e.play("s2_480p", e.token(t, "s1", stream.TokenPlay, exp))
		}, stream.ErrTokenMismatch},
		{"play revoked token", func(t *testing.T, e *authEnv) error {
			tok := e.token(t, "s1", stream.TokenPlay, exp)
			if _, err := e.settings.DeleteTokens(context.Background(), liveKey("s1")); err != nil {
				t.Fatal(err)
			}
			return e.play("s1", tok)
		}, ports.ErrUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newAuthEnv(t, set)
			wantAuth(t, tt.name, tt.do(t, e), tt.want)
		})
	}
}

func TestAuthorizerWrongTypeKeepsPublishToken(t *testing.T) {
	set := stream.DefaultAppSettings()
	set.PublishTokenControl = true
	e := newAuthEnv(t, set)
	tok := e.token(t, "s1", stream.TokenPublish, now.Add(time.Hour))
	wantAuth(t, "publish to another stream", e.publish("s2", tok), stream.ErrTokenMismatch)
	wantAuth(t, "publish to its stream afterwards", e.publish("s1", tok), nil)
}

func TestAuthorizerOneDirectionOnly(t *testing.T) {
	set := stream.DefaultAppSettings()
	set.PlayTokenControl = true
	e := newAuthEnv(t, set)
	wantAuth(t, "publish with play control only", e.publish("s1", ""), nil)
	wantAuth(t, "play with play control", e.play("s1", ""), ports.ErrUnauthorized)

	set = stream.DefaultAppSettings()
	set.PublishJWTControl, set.JWTSecret = true, testStreamSecret
	e = newAuthEnv(t, set)
	wantAuth(t, "play with publish JWT control only", e.play("s1", ""), nil)
	wantAuth(t, "publish with publish JWT control", e.publish("s1", ""), ports.ErrUnauthorized)
}

func TestAuthorizerJWT(t *testing.T) {
	set := stream.DefaultAppSettings()
	set.PublishJWTControl, set.PlayJWTControl, set.JWTSecret = true, true, testStreamSecret
	exp := now.Add(time.Hour)
	e := newAuthEnv(t, set)
	pub := signJWT(t, "s1", stream.TokenPublish, exp)
	play := signJWT(t, "s1", stream.TokenPlay, exp)
	otherSecret, err := SignStreamJWT([]byte("another-secret-0123456789abcdefgh"), "s1", stream.TokenPlay, "", exp)
	if err != nil {
		t.Fatal(err)
	}
	wantAuth(t, "publish JWT", e.publish("s1", pub), nil)
	wantAuth(t, "publish JWT again (not one-time)", e.publish("s1", pub), nil)
	wantAuth(t, "publish without", e.publish("s1", ""), ports.ErrUnauthorized)
	wantAuth(t, "publish with play JWT", e.publish("s1", play), stream.ErrTokenMismatch)
	wantAuth(t, "publish other stream", e.publish("s2", pub), stream.ErrTokenMismatch)
	wantAuth(t, "publish one-time token", e.publish("s1", e.token(t, "s1", stream.TokenPublish, exp)), ports.ErrUnauthorized)
	wantAuth(t, "play JWT", e.play("s1", play), nil)
	wantAuth(t, "play rendition with the stream's JWT", e.play("s1_240p", play), nil)
	wantAuth(t, "play other secret", e.play("s1", otherSecret), ports.ErrUnauthorized)
	wantAuth(t, "play garbage", e.play("s1", "a.b.c"), ports.ErrUnauthorized)
	e.clock.Set(exp)
	wantAuth(t, "play expired", e.play("s1", play), stream.ErrTokenExpired)
}

func TestAuthorizerBothControls(t *testing.T) {
	set := stream.DefaultAppSettings()
	set.PublishTokenControl, set.PublishJWTControl, set.JWTSecret = true, true, testStreamSecret
	set.PlayTokenControl, set.PlayJWTControl = true, true
	exp := now.Add(time.Hour)
	e := newAuthEnv(t, set)
	wantAuth(t, "publish with JWT", e.publish("s1", signJWT(t, "s1", stream.TokenPublish, exp)), nil)
	wantAuth(t, "publish with one-time", e.publish("s1", e.token(t, "s1", stream.TokenPublish, exp)), nil)
	wantAuth(t, "publish with neither", e.publish("s1", "x"), ports.ErrUnauthorized)
	wantAuth(t, "play with JWT", e.play("s1", signJWT(t, "s1", stream.TokenPlay, exp)), nil)
	wantAuth(t, "play with one-time", e.play("s1", e.token(t, "s1", stream.TokenPlay, exp)), nil)
	wantAuth(t, "play without", e.play("s1", ""), ports.ErrUnauthorized)
}

func TestAuthorizerConcurrentPublishToken(t *testing.T) {
	set := stream.DefaultAppSettings()
	set.PublishTokenControl = true
	e := newAuthEnv(t, set)
	tok := e.token(t, "s1", stream.TokenPublish, now.Add(time.Hour))
	var ok atomic.Int32
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if e.publish("s1", tok) == nil {
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 1 {
		t.Fatalf("%d publishers got in with one one-time token, want 1", ok.Load())
	}
}

func TestAuthorizerSettingsCache(t *testing.T) {
	e := newAuthEnv(t, stream.DefaultAppSettings())
	wantAuth(t, "open app", e.play("s1", ""), nil)
	set := stream.DefaultAppSettings()
	set.PlayTokenControl = true
	e.save(t, set)
	wantAuth(t, "within the cache time", e.play("s1", ""), nil)
	e.clock.Set(now.Add(DefaultSettingsCacheFor))
	wantAuth(t, "after the cache time", e.play("s1", ""), ports.ErrUnauthorized)
}

func TestAuthorizerStoreDown(t *testing.T) {
	closed := stream.DefaultAppSettings()
	closed.PublishTokenControl, closed.PlayTokenControl = true, true
	closed.PlayJWTControl, closed.JWTSecret = true, testStreamSecret
	exp := now.Add(time.Hour)
	later := now.Add(time.Minute) // past the cache time

	t.Run("nothing known: refused", func(t *testing.T) {
		e := newAuthEnv(t, stream.DefaultAppSettings())
		e.settings.SetDown(true)
		err := e.play("s1", "")
		wantAuth(t, "play", err, ports.ErrUnavailable)
		wantAuth(t, "publish", e.publish("s1", ""), ports.ErrUnavailable)
	})
	t.Run("open app known: allowed", func(t *testing.T) {
		e := newAuthEnv(t, stream.DefaultAppSettings())
		wantAuth(t, "play before", e.play("s1", ""), nil)
		e.settings.SetDown(true)
		e.clock.Set(later)
		wantAuth(t, "play", e.play("s1", ""), nil)
		wantAuth(t, "publish", e.publish("s1", ""), nil)
	})
	t.Run("closed app known: one-time refused, JWT checked", func(t *testing.T) {
		e := newAuthEnv(t, closed)
		playTok := e.token(t, "s1", stream.TokenPlay, exp)
		pubTok := e.token(t, "s1", stream.TokenPublish, exp)
		wantAuth(t, "play before", e.play("s1", playTok), nil)
		e.settings.SetDown(true)
		e.clock.Set(later)
		wantAuth(t, "play one-time", e.play("s1", playTok), ports.ErrUnavailable)
		wantAuth(t, "publish one-time", e.publish("s1", pubTok), ports.ErrUnavailable)
		wantAuth(t, "play without", e.play("s1", ""), ports.ErrUnauthorized)
		wantAuth(t, "play JWT", e.play("s1", signJWT(t, "s1", stream.TokenPlay, exp)), nil)
		e.settings.SetDown(false)
		wantAuth(t, "publish one-time after the store is back", e.publish("s1", pubTok), nil)
	})
}

func TestRenditionParent(t *testing.T) {
	tests := []struct {
		id     stream.ID
		parent stream.ID
		ok     bool
	}{
		{"s1_480p", "s1", true},
		{"a_b_1080p", "a_b", true},
		{"s1_p", "", false},
		{"s1_480", "", false},
		{"s1_48x0p", "", false},
		{"s1", "", false},
		{"_480p", "", false},
		{"s1_1234567p", "", false},
	}
	for _, tt := range tests {
		got, ok := renditionParent(liveKey(tt.id))
		if ok != tt.ok || (ok && got != liveKey(tt.parent)) {
			t.Errorf("renditionParent(%s) = %v, %v; want %s, %v", tt.id, got, ok, tt.parent, tt.ok)
		}
	}
}

func TestAuthorizerReasons(t *testing.T) {
	set := stream.DefaultAppSettings()
	set.PublishTokenControl, set.PlayTokenControl = true, true
	e := newAuthEnv(t, set)
	exp := now.Add(time.Hour)
	used := e.token(t, "s1", stream.TokenPublish, exp)
	if err := e.publish("s1", used); err != nil {
		t.Fatal(err)
	}
	expired := e.token(t, "s1", stream.TokenPlay, now.Add(time.Second))
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"missing", e.play("s1", ""), "play LiveApp/s1: unauthorized: the application requires a play token"},
		{"unknown", e.play("s1", "nosuch"), "unknown token"},
		{"used up", e.publish("s1", used), "unknown token"},
		{"wrong stream", e.play("s1", e.token(t, "s2", stream.TokenPlay, exp)), "token for play LiveApp/s2, asked play LiveApp/s1"},
		{"wrong type", e.publish("s1", e.token(t, "s1", stream.TokenPlay, exp)), "token for play LiveApp/s1, asked publish LiveApp/s1"},
		{"expired", func() error { e.clock.Set(now.Add(time.Second)); return e.play("s1", expired) }(), "token expired"},
	}
	for _, tt := range tests {
		if tt.err == nil || !strings.Contains(tt.err.Error(), tt.want) {
			t.Errorf("%s: %v, want it to say %q", tt.name, tt.err, tt.want)
		}
	}
}
