//go:build e2e

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/colony-live/colony/adapters/webrtc/client"
)

// The stream-token suite: once an application turns on publish and play
// token control (Ant Media's publishTokenControlEnabled and
// playTokenControlEnabled), publishers and viewers without a valid token
// are refused on every protocol (RTMP ?token=, HLS ?token=, WHIP/WHEP
// bearer, WebSocket token field), on a standalone node and on a cluster
// edge, and let in with one. A publish token is used up by its publish; a
// play token serves every request until it expires.

// tokEnable turns on publish and play token control for LiveApp on n.
func tokEnable(t *testing.T, n *colonyNode) {
	t.Helper()
	abrPut(t, n.HTTP+"/rest/v2/applications/settings/LiveApp",
		`{"publishTokenControlEnabled":true,"playTokenControlEnabled":true}`, 200)
}

// tokCreate asks n for a one-time token of typ for LiveApp/id, valid for an hour.
func tokCreate(t *testing.T, n *colonyNode, id, typ string) string {
	t.Helper()
	var tok struct {
		TokenID  string `json:"tokenId"`
		StreamID string `json:"streamId"`
		Type     string `json:"type"`
	}
	url := fmt.Sprintf("%s/LiveApp/rest/v2/broadcasts/%s/token?expireDate=%d&type=%s", n.HTTP, id, time.Now().Add(time.Hour).Unix(), typ)
	if resp := getJSON(t, url, &tok); resp.StatusCode != 200 || tok.TokenID == "" || tok.StreamID != id || tok.Type != typ {
		t.Fatalf("GET %s: %d %+v", url, resp.StatusCode, tok)
	}
	return tok.TokenID
}

// tokRTMPRefused checks that an ffmpeg publish to url is refused.
func tokRTMPRefused(t *testing.T, n *colonyNode, url, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-i", clipPath(t),
		"-t", "2", "-c", "copy", "-f", "flv", url).CombinedOutput()
	if err == nil {
		t.Fatalf("RTMP publish to %s was accepted:\n%s", url, out)
	}
	if st := broadcastStatus(t, n, "LiveApp", id); st == "broadcasting" {
		t.Fatalf("RTMP publish to %s refused by ffmpeg, but %s is broadcasting", url, id)
	}
}

// tokHLSCode returns the status of url's multivariant playlist.
func tokHLSCode(t *testing.T, url string) int {
	t.Helper()
	code, _, _ := httpGet(t, url)
	return code
}

// tokWHEPStatus returns the HTTP status of a refused WHEP play (0: it played).
func tokWHEPStatus(t *testing.T, url, token string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pl, err := client.Play(ctx, url, client.PlayOptions{Options: client.Options{Token: token}})
	if err == nil {
		pl.Close()
		return 0
	}
	var he *client.HTTPError
	if !errors.As(err, &he) {
		t.Fatalf("WHEP %s: %v, want an HTTP refusal", url, err)
	}
	return he.StatusCode
}

// tokWHEPPlays plays url over WHEP with token until frames access units came.
func tokWHEPPlays(t *testing.T, url, token string, frames int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pl, err := client.Play(ctx, url, client.PlayOptions{Options: client.Options{Token: token}})
	if err != nil {
		t.Fatalf("WHEP %s with a play token: %v", url, err)
	}
	defer pl.Close()
	if err := pl.WaitFrames(ctx, frames); err != nil {
		t.Fatalf("WHEP %s with a play token: %v (stats %+v)", url, err, pl.Stats())
	}
}

// tokHLSPlays checks that url (with its token) plays: ffprobe finds the clip's video.
func tokHLSPlays(t *testing.T, url string) {
	t.Helper()
	if got := strings.Join(ffprobeStreams(t, url), ","); !strings.Contains(got, "h264 1280x720") {
		t.Fatalf("ffprobe %s found %q", url, got)
	}
}

// tokWSCommand sends one WebSocket signalling command and returns the
// first answer.
func tokWSCommand(t *testing.T, ctx context.Context, c *websocket.Conn, msg map[string]string) map[string]any {
	t.Helper()
	b, _ := json.Marshal(msg)
	if err := c.Write(ctx, websocket.MessageText, b); err != nil {
		t.Fatal(err)
	}
	_, ans, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("no answer to %s: %v", b, err)
	}
	var m map[string]any
	if err := json.Unmarshal(ans, &m); err != nil {
		t.Fatalf("answer %s: %v", ans, err)
	}
	return m
}

// TestTokensStandalone: token control on LiveApp of a standalone node,
// over RTMP, HLS, WHEP, WHIP and WebSocket signalling.
func TestTokensStandalone(t *testing.T) {
	n := startNode(t, "standalone", nodeOpts{})
	tokEnable(t, n)

	// RTMP: no token, an unknown one, a play token: refused; a publish token: live.
	tokRTMPRefused(t, n, n.RTMP+"/LiveApp/tk1", "tk1")
	tokRTMPRefused(t, n, n.RTMP+"/LiveApp/tk1?token=0123456789abcdef0123456789abcdef", "tk1")
	tokRTMPRefused(t, n, n.RTMP+"/LiveApp/tk1?token="+tokCreate(t, n, "tk1", "play"), "tk1")
	pubTok := tokCreate(t, n, "tk1", "publish")
	publish(t, n.RTMP+"/LiveApp/tk1?token="+pubTok)
	waitStatus(t, n, "LiveApp", "tk1", "broadcasting", 15*time.Second)

	// HLS: 401 without a token, 403 with a wrong one; a play token plays,
	// for every request of the player.
	hls := n.HTTP + "/LiveApp/streams/tk1.m3u8"
	playTok := tokCreate(t, n, "tk1", "play")
	for name, c := range map[string]struct {
		url  string
		want int
	}{
		"no token":             {hls, http.StatusUnauthorized},
		"unknown token":        {hls + "?token=nosuch", http.StatusForbidden},
		"used publish token":   {hls + "?token=" + pubTok, http.StatusForbidden},
		"other stream's token": {hls + "?token=" + tokCreate(t, n, "other", "play"), http.StatusForbidden},
	} {
		if got := tokHLSCode(t, c.url); got != c.want {
			t.Errorf("HLS %s: %d, want %d", name, got, c.want)
		}
	}
	tokHLSPlays(t, hls+"?token="+playTok)
	if got := tokHLSCode(t, hls+"?token="+playTok); got != http.StatusOK {
		t.Errorf("HLS with the play token, again: %d, want 200", got)
	}

	// WHEP: bearer token.
	whep := n.HTTP + "/LiveApp/whep/tk1"
	if got := tokWHEPStatus(t, whep, ""); got != http.StatusUnauthorized {
		t.Errorf("WHEP without a token: %d, want 401", got)
	}
	if got := tokWHEPStatus(t, whep, "nosuch"); got != http.StatusForbidden {
		t.Errorf("WHEP with an unknown token: %d, want 403", got)
	}
	tokWHEPPlays(t, whep, playTok, 30)

	// WHIP: the publish token of tk1 was used up by the RTMP publish (403,
	// not the 409 of a busy stream: the token is checked first).
	h264Path, _ := webrtcClip(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var he *client.HTTPError
	if _, err := client.Publish(ctx, n.HTTP+"/LiveApp/whip/tk1", clipSource(t, h264Path, ""), client.Options{Token: pubTok}); !errors.As(err, &he) || he.StatusCode != http.StatusForbidden {
		t.Errorf("WHIP with a used publish token: %v, want 403", err)
	}
	if _, err := client.Publish(ctx, n.HTTP+"/LiveApp/whip/tk2", clipSource(t, h264Path, ""), client.Options{}); !errors.As(err, &he) || he.StatusCode != http.StatusUnauthorized {
		t.Errorf("WHIP without a token: %v, want 401", err)
	}
	pub, err := client.Publish(ctx, n.HTTP+"/LiveApp/whip/tk2", clipSource(t, h264Path, ""), client.Options{Token: tokCreate(t, n, "tk2", "publish")})
	if err != nil {
		t.Fatalf("WHIP with a publish token: %v", err)
	}
	defer pub.Close()
	waitStatus(t, n, "LiveApp", "tk2", "broadcasting", 10*time.Second)

	// WebSocket signalling: the token field of play and publish.
	ws := wsURL(n, "LiveApp")
	var se *client.SignalError
	if _, err := client.PlayWebSocket(ctx, ws, "tk1", client.PlayOptions{}); !errors.As(err, &se) || se.Definition != "unauthorized_access" {
		t.Errorf("WebSocket play without a token: %v, want unauthorized_access", err)
	}
	pl, err := client.PlayWebSocket(ctx, ws, "tk1", client.PlayOptions{Options: client.Options{Token: playTok}})
	if err != nil {
		t.Fatalf("WebSocket play with a play token: %v", err)
	}
	if err := pl.WaitFrames(ctx, 30); err != nil {
		t.Errorf("WebSocket play with a play token: %v", err)
	}
	pl.Close()
	c, _, err := websocket.Dial(ctx, ws, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if m := tokWSCommand(t, ctx, c, map[string]string{"command": "publish", "streamId": "tk3"}); m["command"] != "error" || m["definition"] != "unauthorized_access" {
		t.Errorf("WebSocket publish without a token: %v, want error unauthorized_access", m)
	}
	if m := tokWSCommand(t, ctx, c, map[string]string{"command": "publish", "streamId": "tk3", "token": tokCreate(t, n, "tk3", "publish")}); m["command"] != "start" {
		t.Errorf("WebSocket publish with a publish token: %v, want start", m)
	}
}

// TestTokensEdge: the origin and the edge of a cluster share LiveApp's
// settings and tokens; the edge refuses viewers without a play token
// before pulling anything, and plays with one (made by the edge's REST
// API: tokens are cluster-wide).
func TestTokensEdge(t *testing.T) {
	c := newCluster(t)
	origin := c.node("origin1", "origin", "127.0.0.2")
	edge := c.node("edge1", "edge", "127.0.0.3")
	tokEnable(t, origin)

	tokRTMPRefused(t, origin, origin.RTMP+"/LiveApp/te1", "te1")
	publish(t, origin.RTMP+"/LiveApp/te1?token="+tokCreate(t, origin, "te1", "publish"))
	waitStatus(t, edge, "LiveApp", "te1", "broadcasting", 20*time.Second)

	hls := edge.HTTP + "/LiveApp/streams/te1.m3u8"
	whep := edge.HTTP + "/LiveApp/whep/te1"
	if got := tokHLSCode(t, hls); got != http.StatusUnauthorized {
		t.Errorf("edge HLS without a token: %d, want 401", got)
	}
	if got := tokHLSCode(t, hls+"?token=nosuch"); got != http.StatusForbidden {
		t.Errorf("edge HLS with an unknown token: %d, want 403", got)
	}
	if got := tokWHEPStatus(t, whep, ""); got != http.StatusUnauthorized {
		t.Errorf("edge WHEP without a token: %d, want 401", got)
	}
	if got := metric(t, origin, "colony_relay_sessions_total"); got != 0 {
		t.Errorf("refused edge viewers caused %v relay sessions, want 0", got)
	}

	playTok := tokCreate(t, edge, "te1", "play")
	tokHLSPlays(t, hls+"?token="+playTok)
	tokWHEPPlays(t, whep, playTok, 30)
}
