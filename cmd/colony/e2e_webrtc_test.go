//go:build e2e

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/colony-live/colony/adapters/webrtc/client"
)

// The WebRTC suite publishes and plays with the pion client of
// adapters/webrtc/client against real colony processes: WHIP in, HLS and
// WHEP out, RTMP in and WHEP out, WHEP from a cluster edge, Ant Media's
// WebSocket signalling, and the refusals.

// webrtcClip converts the test clip, once per test, into what a WebRTC
// publisher sends: H.264 Annex-B (copied) and Opus in Ogg.
func webrtcClip(t *testing.T) (h264Path, oggPath string) {
	t.Helper()
	dir := t.TempDir()
	h264Path, oggPath = filepath.Join(dir, "clip.h264"), filepath.Join(dir, "clip.ogg")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-loglevel", "error", "-i", clipPath(t),
		"-map", "0:v:0", "-c:v", "copy", "-bsf:v", "h264_mp4toannexb", "-f", "h264", h264Path,
		"-map", "0:a:0", "-c:a", "libopus", "-b:a", "64k", "-f", "ogg", oggPath).CombinedOutput()
	if err != nil {
		t.Fatalf("convert the clip for WebRTC: %v\n%s", err, out)
	}
	return h264Path, oggPath
}

// clipSource opens the converted clip as a looping WebRTC source.
func clipSource(t *testing.T, h264Path, oggPath string) client.Source {
	t.Helper()
	src := client.Source{FrameRate: 30, Loop: true}
	v, err := os.Open(h264Path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	src.H264 = v
	if oggPath != "" {
		a, err := os.Open(oggPath)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.Close() })
		src.Opus = a
	}
	return src
}

// clientLogger shows the WebRTC client's logs when COLONY_TEST_LOG is set.
func clientLogger() *slog.Logger {
	if os.Getenv("COLONY_TEST_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// decodeAnnexB decodes an H.264 Annex-B file with ffmpeg and returns the
// number of frames; any decoder message fails the test.
func decodeAnnexB(t *testing.T, path string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-v", "error", "-f", "h264", "-i", path, "-map", "0:v:0", "-f", "framecrc", "-")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil || stderr.Len() > 0 {
		t.Fatalf("ffmpeg could not decode %s: %v\n%s", path, err, stderr.String())
	}
	n := 0
	for _, l := range strings.Split(stdout.String(), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			n++
		}
	}
	return n
}

// whepPlay plays url over WHEP until frames decodable access units came,
// records them, and checks that ffmpeg decodes at least minDecoded frames
// without error. It returns the player's stats and how long the first
// frame took from the request.
func whepPlay(t *testing.T, url string, frames, minDecoded int) (client.PlayStats, time.Duration) {
	t.Helper()
	return playAndDecode(t, frames, minDecoded, func(ctx context.Context, opts client.PlayOptions) (*client.Player, error) {
		return client.Play(ctx, url, opts)
	})
}

func playAndDecode(t *testing.T, frames, minDecoded int, play func(context.Context, client.PlayOptions) (*client.Player, error)) (client.PlayStats, time.Duration) {
	t.Helper()
	rec := filepath.Join(t.TempDir(), "received.h264")
	f, err := os.Create(rec)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	pl, err := play(ctx, client.PlayOptions{Record: f, Options: client.Options{Logger: clientLogger()}})
	if err != nil {
		t.Fatalf("play: %v", err)
	}
	if err := pl.WaitFrames(ctx, frames); err != nil {
		pl.Close()
		t.Fatalf("play: %v (stats %+v)", err, pl.Stats())
	}
	if err := pl.Close(); err != nil {
		t.Fatalf("play session ended with %v", err)
	}
	st := pl.Stats()
	if st.RecordErr != nil {
		t.Fatal(st.RecordErr)
	}
	if n := decodeAnnexB(t, rec); n < minDecoded {
		t.Fatalf("ffmpeg decoded %d frames of what was received, want at least %d (stats %+v)", n, minDecoded, st)
	}
	return st, st.FirstFrameAt.Sub(start)
}

// broadcastJSON is the REST broadcast record the WebRTC tests look at.
type broadcastJSON struct {
	StreamID    string `json:"streamId"`
	Status      string `json:"status"`
	PublishType string `json:"publishType"`
	Width       int    `json:"width"`
	Height      int    `json:"height"`
}

// TestWebRTCPublishWHIP: a pion client publishes the clip (H.264 copied,
// Opus) over WHIP; ffprobe reads it back as HLS; a pion client plays it
// over WHEP and ffmpeg decodes what it received; REST shows publishType
// WebRTC, and the DELETE ends the broadcast.
func TestWebRTCPublishWHIP(t *testing.T) {
	n := startNode(t, "standalone", nodeOpts{})
	h264Path, oggPath := webrtcClip(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pub, err := client.Publish(ctx, n.HTTP+"/LiveApp/whip/wr1", clipSource(t, h264Path, oggPath), client.Options{})
	if err != nil {
		t.Fatalf("WHIP publish: %v", err)
	}
	defer pub.Close()
	if !strings.Contains(pub.Location(), "/LiveApp/whip/wr1/") {
		t.Fatalf("WHIP session URL %q", pub.Location())
	}
	waitStatus(t, n, "LiveApp", "wr1", "broadcasting", 20*time.Second)

	var b broadcastJSON
	getJSON(t, n.HTTP+"/LiveApp/rest/v2/broadcasts/wr1", &b)
	if b.PublishType != "WebRTC" || b.Status != "broadcasting" {
		t.Fatalf("broadcast = %+v, want publishType WebRTC", b)
	}

	url := n.HTTP + "/LiveApp/streams/wr1.m3u8"
	eventually(t, 20*time.Second, "HLS playlist of the WebRTC stream", func() error {
		if code, _, _ := httpGet(t, url); code != 200 {
			return errStatus(code)
		}
		return nil
	})
	got := strings.Join(ffprobeStreams(t, url), ",")
	t.Logf("HLS of the WHIP stream: %s", got)
	// With the transcoder plugin next to the binary (make plugins), HLS
	// carries the AAC companion of the Opus (TestHLSAudioAAC); without, the Opus.
	if !strings.Contains(got, "h264 1280x720") || !strings.Contains(got, "opus") && !strings.Contains(got, "aac") {
		t.Fatalf("ffprobe found %q in the HLS of a WHIP stream, want h264 1280x720 and opus or aac", got)
	}

	st, ttff := whepPlay(t, n.HTTP+"/LiveApp/whep/wr1", 90, 60)
	t.Logf("WHEP of the WHIP stream: first frame after %v; %+v", ttff.Round(time.Millisecond), st)
	if st.AudioPackets == 0 || !strings.EqualFold(st.AudioCodec, "audio/opus") {
		t.Fatalf("no Opus received over WHEP from a WHIP stream with Opus: %+v", st)
	}
	if !strings.EqualFold(st.VideoCodec, "video/H264") || !st.FirstUnitKey {
		t.Fatalf("WHEP video: %+v, want H.264 starting at an IDR", st)
	}
	if ps := pub.Stats(); ps.VideoFrames < 90 || ps.AudioPackets < 100 {
		t.Fatalf("publisher stats %+v", ps)
	}

	// Ending the WHIP session (DELETE) ends the broadcast.
	if err := pub.Close(); err != nil {
		t.Fatalf("WHIP session ended with %v", err)
	}
	waitStatus(t, n, "LiveApp", "wr1", "finished", 15*time.Second)
}

// TestWebRTCPlayRTMP: an RTMP stream (ffmpeg) plays over WHEP: decodable
// H.264 that starts at an IDR. without a transcoder AAC is not sent over WebRTC (TestWebRTCAudio covers the bridge): the
// viewer gets the video only.
func TestWebRTCPlayRTMP(t *testing.T) {
	n := startNode(t, "standalone", nodeOpts{})
	publish(t, n.RTMP+"/LiveApp/rt1")
	waitStatus(t, n, "LiveApp", "rt1", "broadcasting", 15*time.Second)
	for i := range 2 { // the second viewer comes while the first stream is warm
		st, ttff := whepPlay(t, n.HTTP+"/LiveApp/whep/rt1", 60, 30)
		t.Logf("WHEP viewer %d of an RTMP stream: time to first frame %v (connected %v after the request's answer); %+v",
			i+1, ttff.Round(time.Millisecond), st.FirstFrameAt.Sub(st.ConnectedAt).Round(time.Millisecond), st)
		if !st.FirstUnitKey {
			t.Fatalf("the first access unit over WHEP is not an IDR: %+v", st)
		}
		if st.LostPackets > 0 {
			t.Errorf("%d video packets lost for good on loopback (NACK should repair them): %+v", st.LostPackets, st)
		}
		if ttff > 10*time.Second {
			t.Fatalf("first frame after %v", ttff)
		}
		if st.AudioPackets != 0 {
			t.Logf("audio over WHEP from an AAC source: %s, %d packets", st.AudioCodec, st.AudioPackets)
		}
	}
}

// TestWebRTCEdgePlayback: a stream published over RTMP to the origin of a
// three-node cluster plays over WHEP from an edge; edges refuse WHIP.
func TestWebRTCEdgePlayback(t *testing.T) {
	c := newCluster(t)
	origin := c.node("origin1", "origin", "127.0.0.2")
	edge1 := c.node("edge1", "edge", "127.0.0.3")
	edge2 := c.node("edge2", "edge", "127.0.0.4")
	publish(t, origin.RTMP+"/LiveApp/ed1")
	waitStatus(t, edge1, "LiveApp", "ed1", "broadcasting", 20*time.Second)

	for _, e := range []*colonyNode{edge1, edge2} {
		st, ttff := whepPlay(t, e.HTTP+"/LiveApp/whep/ed1", 60, 30)
		t.Logf("WHEP from %s: first frame after %v; %+v", e.name, ttff.Round(time.Millisecond), st)
		if !st.FirstUnitKey {
			t.Fatalf("%s: the first access unit is not an IDR", e.name)
		}
	}

	// The origin serves no viewers, and an edge takes no publisher.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := client.Play(ctx, origin.HTTP+"/LiveApp/whep/ed1", client.PlayOptions{})
	var he *client.HTTPError
	if !errors.As(err, &he) || he.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("WHEP from the origin: %v, want 421", err)
	}
	h264Path, _ := webrtcClip(t)
	_, err = client.Publish(ctx, edge1.HTTP+"/LiveApp/whip/ed2", clipSource(t, h264Path, ""), client.Options{})
	if !errors.As(err, &he) || he.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("WHIP to an edge: %v, want 421", err)
	}
}

// wsURL is the Ant Media WebSocket signalling URL of app on n.
func wsURL(n *colonyNode, app string) string {
	return "ws" + strings.TrimPrefix(n.HTTP, "http") + "/" + app + "/websocket"
}

// TestWebRTCWebSocket: Ant Media's WebSocket signalling against the real
// server: play of a live RTMP stream gets play_started and decodable
// frames; an unknown stream gets no_stream_exist; a malformed message
// gets an error message and leaves the connection usable.
func TestWebRTCWebSocket(t *testing.T) {
	n := startNode(t, "standalone", nodeOpts{})
	publish(t, n.RTMP+"/LiveApp/ws1")
	waitStatus(t, n, "LiveApp", "ws1", "broadcasting", 15*time.Second)
	ws := wsURL(n, "LiveApp")

	st, ttff := playAndDecode(t, 60, 30, func(ctx context.Context, opts client.PlayOptions) (*client.Player, error) {
		return client.PlayWebSocket(ctx, ws, "ws1", opts)
	})
	t.Logf("WebSocket play: first frame after %v; %+v", ttff.Round(time.Millisecond), st)
	if !st.FirstUnitKey {
		t.Fatal("the first access unit over the WebSocket play is not an IDR")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := client.PlayWebSocket(ctx, ws, "nosuchstream", client.PlayOptions{})
	var se *client.SignalError
	if !errors.As(err, &se) || se.Definition != "no_stream_exist" {
		t.Fatalf("play of an unknown stream: %v, want no_stream_exist", err)
	}

	c, _, err := websocket.Dial(ctx, ws, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	exchange := func(msg string) map[string]any {
		t.Helper()
		if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		_, b, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("no answer to %s: %v", msg, err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("answer %s: %v", b, err)
		}
		return m
	}
	for _, bad := range []string{`{"command": "play", "streamId": `, `not json at all`, `{"streamId":"ws1"}`} {
		if m := exchange(bad); m["command"] != "error" || m["definition"] != "malformed_message" {
			t.Fatalf("answer to %q: %v, want error malformed_message", bad, m)
		}
	}
	if m := exchange(`{"command":"ping"}`); m["command"] != "pong" {
		t.Fatalf("ping after malformed messages: %v", m)
	}
	if m := exchange(`{"command":"getStreamInfo","streamId":"ws1"}`); m["command"] != "streamInformation" {
		t.Fatalf("getStreamInfo: %v", m)
	}
}

// TestWebRTCRefusals: a malformed offer is answered 400, a stream that is
// not live 404 (WHEP), a stream already published over RTMP 409 (WHIP).
func TestWebRTCRefusals(t *testing.T) {
	n := startNode(t, "standalone", nodeOpts{})
	post := func(path, ctype, body string) int {
		t.Helper()
		resp, err := http.Post(n.HTTP+path, ctype, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, c := range []struct {
		path, ctype, body string
		want              int
	}{
		{"/LiveApp/whip/bad1", "application/sdp", "this is not SDP", http.StatusBadRequest},
		{"/LiveApp/whep/bad1", "application/sdp", "v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\n", http.StatusBadRequest},
		{"/LiveApp/whip/bad1", "text/plain", "v=0", http.StatusUnsupportedMediaType},
	} {
		if got := post(c.path, c.ctype, c.body); got != c.want {
			t.Errorf("POST %s (%s) %q = %d, want %d", c.path, c.ctype, c.body, got, c.want)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var he *client.HTTPError
	if _, err := client.Play(ctx, n.HTTP+"/LiveApp/whep/nosuchstream", client.PlayOptions{}); !errors.As(err, &he) || he.StatusCode != http.StatusNotFound {
		t.Errorf("WHEP of a stream that is not live: %v, want 404", err)
	}

	publish(t, n.RTMP+"/LiveApp/busy1")
	waitStatus(t, n, "LiveApp", "busy1", "broadcasting", 15*time.Second)
	h264Path, oggPath := webrtcClip(t)
	if _, err := client.Publish(ctx, n.HTTP+"/LiveApp/whip/busy1", clipSource(t, h264Path, oggPath), client.Options{}); !errors.As(err, &he) || he.StatusCode != http.StatusConflict {
		t.Errorf("WHIP of a stream published over RTMP: %v, want 409", err)
	}
	var b broadcastJSON
	getJSON(t, n.HTTP+"/LiveApp/rest/v2/broadcasts/busy1", &b)
	if b.Status != "broadcasting" || b.PublishType != "RTMP" {
		t.Errorf("the RTMP broadcast after a refused WHIP: %+v", b)
	}
}
