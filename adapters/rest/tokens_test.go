package rest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
)

const testStreamSecret = "stream-secret-0123456789abcdefghijkl"

func tokenPath(kind, id string, exp int64, typ string) string {
	return fmt.Sprintf("/LiveApp/rest/v2/broadcasts/%s/%s?expireDate=%d&type=%s", id, kind, exp, typ)
}

func getToken(t *testing.T, e *env, path string) Token {
	t.Helper()
	code, body := e.do(t, "GET", path, "")
	var tok Token
	if err := json.Unmarshal([]byte(body), &tok); code != 200 || err != nil || tok.TokenID == "" {
		t.Fatalf("GET %s = %d %s (%v)", path, code, body, err)
	}
	return tok
}

func TestOneTimeToken(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	exp := now.Add(time.Hour).Unix()
	tok := getToken(t, e, tokenPath("token", "newstream", exp, "publish")+"&roomId=room1")
	if tok.StreamID != "newstream" || tok.Type != "publish" || tok.ExpireDate != exp || tok.RoomID != "room1" || len(tok.TokenID) != 32 {
		t.Fatalf("token = %+v", tok)
	}
	stored, err := e.settings.Token(ctx, tok.TokenID)
	want := stream.Token{ID: tok.TokenID, Key: stream.Key{App: "LiveApp", ID: "newstream"}, Type: stream.TokenPublish, ExpiresAt: time.Unix(exp, 0), RoomID: "room1"}
	if err != nil || stored.ID != want.ID || stored.Key != want.Key || stored.Type != want.Type || !stored.ExpiresAt.Equal(want.ExpiresAt) || stored.RoomID != "room1" {
		t.Fatalf("stored token = %+v, %v; want %+v", stored, err, want)
	}
	if other := getToken(t, e, tokenPath("token", "newstream", exp, "publish")); other.TokenID == tok.TokenID {
		t.Fatal("two tokens got the same id")
	}

	// The checks the enforcers will use.
	key := want.Key
	if err := CheckToken(ctx, e.settings, tok.TokenID, key, stream.TokenPublish, now); err != nil {
		t.Fatalf("CheckToken: %v", err)
	}
	for name, err := range map[string]error{
		"play":       CheckToken(ctx, e.settings, tok.TokenID, key, stream.TokenPlay, now),
		"other":      CheckToken(ctx, e.settings, tok.TokenID, stream.Key{App: "LiveApp", ID: "other"}, stream.TokenPublish, now),
		"expired":    CheckToken(ctx, e.settings, tok.TokenID, key, stream.TokenPublish, now.Add(2*time.Hour)),
		"unknown":    CheckToken(ctx, e.settings, "nosuch", key, stream.TokenPublish, now),
		"empty":      CheckToken(ctx, e.settings, "", key, stream.TokenPublish, now),
		"huge token": CheckToken(ctx, e.settings, strings.Repeat("x", 5000), key, stream.TokenPublish, now),
	} {
		if !errors.Is(err, ports.ErrUnauthorized) {
			t.Errorf("CheckToken %s: err = %v, want ErrUnauthorized", name, err)
		}
	}
	if err := UseToken(ctx, e.settings, tok.TokenID, key, stream.TokenPublish, now); err != nil {
		t.Fatalf("UseToken: %v", err)
	}
	if err := UseToken(ctx, e.settings, tok.TokenID, key, stream.TokenPublish, now); !errors.Is(err, ports.ErrUnauthorized) {
		t.Fatalf("UseToken twice: err = %v, want ErrUnauthorized", err)
	}

	e.check(t, []apiCase{
		{"GET", tokenPath("token", "s1", exp, "both"), "", 400, []string{"invalid token type"}, nil},
		{"GET", "/LiveApp/rest/v2/broadcasts/s1/token?expireDate=" + fmt.Sprint(exp), "", 400, nil, nil},
		{"GET", "/LiveApp/rest/v2/broadcasts/s1/token?type=play", "", 400, []string{"expireDate"}, nil},
		{"GET", "/LiveApp/rest/v2/broadcasts/s1/token?type=play&expireDate=soon", "", 400, []string{"expireDate"}, nil},
		{"GET", tokenPath("token", "s1", now.Add(-time.Second).Unix(), "play"), "", 400, []string{"future"}, nil},
		{"GET", tokenPath("token", "s1", exp, "play") + "&roomId=" + strings.Repeat("r", 200), "", 400, []string{"roomId"}, nil},
		{"GET", tokenPath("token", "a..b", exp, "play"), "", 400, nil, nil},
		{"GET", "/NoApp/rest/v2/broadcasts/s1/token?type=play&expireDate=" + fmt.Sprint(exp), "", 404, nil, nil},
		{"DELETE", "/LiveApp/rest/v2/broadcasts/newstream/tokens", "", 200, []string{`"success":true`, "1 tokens deleted"}, nil},
		{"DELETE", "/LiveApp/rest/v2/broadcasts/newstream/tokens", "", 200, []string{"0 tokens deleted"}, nil},
	})

	e.settings.SetDown(true)
	e.check(t, []apiCase{{"GET", tokenPath("token", "s1", exp, "play"), "", 503, nil, nil}})
}

func TestJWTToken(t *testing.T) {
	e := newEnv(t, nil)
	exp := now.Add(time.Hour).Unix()
	e.check(t, []apiCase{
		{"GET", tokenPath("jwt-token", "s1", exp, "play"), "", 400, []string{"jwtStreamSecretKey"}, nil},
		{"PUT", "/rest/v2/applications/settings/LiveApp", `{"playJwtControlEnabled":true,"jwtStreamSecretKey":"` + testStreamSecret + `"}`, 200, nil, nil},
		{"GET", tokenPath("jwt-token", "s1", exp, "nope"), "", 400, nil, nil},
		{"GET", tokenPath("jwt-token", "s1", now.Unix()-10, "play"), "", 400, nil, nil},
	})
	tok := getToken(t, e, tokenPath("jwt-token", "s1", exp, "play"))
	if tok.StreamID != "s1" || tok.Type != "play" || tok.ExpireDate != exp || strings.Count(tok.TokenID, ".") != 2 {
		t.Fatalf("jwt token = %+v", tok)
	}
	secret := []byte(testStreamSecret)
	if err := VerifyStreamJWT(secret, tok.TokenID, "s1", stream.TokenPlay, now); err != nil {
		t.Fatalf("VerifyStreamJWT: %v", err)
	}
	// One app's secret does not sign another's tokens.
	code, _ := e.do(t, "GET", "/WebRTCAppEE/rest/v2/broadcasts/s1/jwt-token?type=play&expireDate="+fmt.Sprint(exp), "")
	if code != 400 {
		t.Fatalf("jwt-token of an app without a secret = %d, want 400", code)
	}
	e.check(t, []apiCase{{"GET", "/LiveApp/rest/v2/broadcasts/nosuch!/jwt-token?type=play&expireDate=" + fmt.Sprint(exp), "", 400, nil, nil}})
}

func TestTokensWithoutSettingsStore(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Settings = nil })
	exp := now.Add(time.Hour).Unix()
	e.check(t, []apiCase{
		{"GET", tokenPath("token", "s1", exp, "play"), "", 501, nil, nil},
		{"GET", tokenPath("jwt-token", "s1", exp, "play"), "", 501, nil, nil},
		{"DELETE", "/LiveApp/rest/v2/broadcasts/s1/tokens", "", 501, nil, nil},
		{"GET", "/rest/v2/applications/settings/LiveApp", "", 501, nil, nil},
		{"DELETE", "/LiveApp/rest/v2/broadcasts/gamma", "", 200, nil, nil},
	})
}
