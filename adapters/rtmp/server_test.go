package rtmp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
)

// testLogger logs to the test output with -v, and nowhere otherwise.
func testLogger(t *testing.T) *slog.Logger {
	t.Helper()
	if !testing.Verbose() {
		return discard
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
}

// startServer runs a server on a loopback port until the test ends; the
// cleanup checks that Run returns nil promptly.
func startServer(t *testing.T, ingest ports.Ingest, cfg Config) (*Server, string) {
	t.Helper()
	cfg.Addr = "127.0.0.1:0"
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	srv, err := New(cfg, ingest)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Serve did not return within 5s of cancel")
		}
	})
	return srv, srv.Addr().String()
}

func requireFFmpeg(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Fatal("ffmpeg is required for the end-to-end tests: ", err)
	}
}

// ffmpegPublish publishes a 320x240 30 fps H.264 test pattern (a keyframe
// every second) with an AAC sine for seconds, in real time, to url.
func ffmpegPublish(ctx context.Context, url string, seconds float64) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error",
		"-re", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-f", "lavfi", "-i", "sine",
		"-c:v", "libx264", "-preset", "ultrafast", "-g", "30", "-sc_threshold", "0",
		"-c:a", "aac", "-t", fmt.Sprint(seconds), "-f", "flv", url)
	cmd.WaitDelay = time.Second
	return cmd
}

// runFFmpeg runs an ffmpeg publish to completion and returns its stderr.
func runFFmpeg(t *testing.T, url string, seconds float64) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(seconds*float64(time.Second))+10*time.Second)
	defer cancel()
	cmd := ffmpegPublish(ctx, url, seconds)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	return stderr.String(), err
}

// ffmpegProc is an ffmpeg publish running in the background.
type ffmpegProc struct {
	cmd  *exec.Cmd
	done chan ffmpegResult // yields its result once
}

type ffmpegResult struct {
	err    error
	stderr string
}

// startFFmpeg starts an ffmpeg publish. The test waits for it at cleanup.
func startFFmpeg(t *testing.T, url string, seconds float64) *ffmpegProc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(seconds*float64(time.Second))+10*time.Second)
	p := &ffmpegProc{cmd: ffmpegPublish(ctx, url, seconds), done: make(chan ffmpegResult, 1)}
	var stderr bytes.Buffer
	p.cmd.Stderr = &stderr
	if err := p.cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		defer cancel()
		err := p.cmd.Wait()
		p.done <- ffmpegResult{err: err, stderr: stderr.String()}
	}()
	t.Cleanup(func() { cancel(); <-exited })
	return p
}

// stop asks ffmpeg to finish (SIGINT): it unpublishes and closes cleanly.
func (p *ffmpegProc) stop(t *testing.T) ffmpegResult {
	t.Helper()
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-p.done:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("ffmpeg did not stop within 5s of SIGINT")
		return ffmpegResult{}
	}
}

func TestFFmpegPublish(t *testing.T) {
	t.Parallel()
	requireFFmpeg(t)
	rec := newPubRecorder(t)
	srv, addr := startServer(t, rec.ingest(), Config{})

	stderr, err := runFFmpeg(t, "rtmp://"+addr+"/LiveApp/test1?token=abc", 3)
	if err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, stderr)
	}
	pub := rec.next(t, time.Second)
	if err := pub.waitEnded(t, 5*time.Second); err != nil {
		t.Fatalf("End(%v), want End(nil)", err)
	}

	req := pub.req
	if req.Key != (stream.Key{App: "LiveApp", ID: "test1"}) || req.PublishType != stream.PublishRTMP ||
		req.Query.Get("token") != "abc" || !strings.HasPrefix(req.RemoteAddr, "127.0.0.1:") {
		t.Fatalf("publish request = %+v", req)
	}
	if len(pub.tracks) != 2 {
		t.Fatalf("tracks = %+v, want H264 and AAC", pub.tracks)
	}
	v, a := pub.tracks[0], pub.tracks[1]
	if v.Codec != media.H264 || v.Width != 320 || v.Height != 240 || v.ClockRate != 90000 || len(v.SPS) == 0 || len(v.PPS) == 0 {
		t.Fatalf("video track = %+v", v)
	}
	if a.Codec != media.AAC || a.SampleRate != 44100 || a.ClockRate != 44100 || a.Channels != 1 || len(a.Config) == 0 {
		t.Fatalf("audio track = %+v", a)
	}

	var lastDTS [2]time.Duration
	var count [2]int
	var keys []time.Duration
	for _, u := range pub.units {
		if count[u.Track] > 0 && u.DTS <= lastDTS[u.Track] {
			t.Fatalf("track %d: DTS %v after %v", u.Track, u.DTS, lastDTS[u.Track])
		}
		if u.PTS < u.DTS {
			t.Fatalf("track %d: PTS %v before DTS %v", u.Track, u.PTS, u.DTS)
		}
		lastDTS[u.Track] = u.DTS
		count[u.Track]++
		if u.Track == 0 && u.Key {
			keys = append(keys, u.DTS)
		}
	}
	// 3 s at 30 fps, and 44.1 kHz AAC in 1024-sample frames (43/s).
	if count[0] < 80 || count[1] < 110 {
		t.Fatalf("got %d video and %d audio units, want about 90 and 129", count[0], count[1])
	}
	if len(keys) < 3 {
		t.Fatalf("keyframes at %v, want one per second", keys)
	}
	for i := 1; i < len(keys); i++ {
		if d := keys[i] - keys[i-1]; d < 900*time.Millisecond || d > 1100*time.Millisecond {
			t.Fatalf("keyframes at %v: %v apart, want about 1s", keys, d)
		}
	}
	st := srv.Stats()
	if st.BytesIn < 50_000 {
		t.Fatalf("stats = %+v, want BytesIn counted", st)
	}
	waitFor(t, 2*time.Second, func() bool { st = srv.Stats(); return st.Connections == 0 && st.Publishers == 0 })
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// rtmpHandshake performs a plain RTMP handshake as a client.
func rtmpHandshake(t *testing.T, c net.Conn) {
	t.Helper()
	c1 := make([]byte, 1+1536)
	c1[0] = 3
	if _, err := c.Write(c1); err != nil {
		t.Fatal(err)
	}
	s := make([]byte, 1+1536+1536)
	if _, err := io.ReadFull(c, s); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(s[1 : 1+1536]); err != nil { // C2 echoes S1
		t.Fatal(err)
	}
}

// Garbage after the handshake closes only that connection.
func TestGarbageClosesOnlyThatConnection(t *testing.T) {
	t.Parallel()
	requireFFmpeg(t)
	rec := newPubRecorder(t)
	srv, addr := startServer(t, rec.ingest(), Config{ReadTimeout: 2 * time.Second})

	publisher := startFFmpeg(t, "rtmp://"+addr+"/LiveApp/garbage", 30)
	pub := rec.next(t, 3*time.Second)
	pub.waitStarted(t, 3*time.Second)

	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 4096)
	for i := range random {
		random[i] = byte(rng.UintN(256))
	}
	// AMF0 that go-amf0 v0.1.0 turned into a 32 GiB allocation, a stack
	// overflow or a panic (patched in third_party/go-amf0), as a property
	// of the connect command's object.
	prop := func(v ...byte) []byte {
		return amfCommand(append(append(amfConnectHead(), 0x03, 0, 1, 'x'), append(v, 0, 0, 0x09)...))
	}
	hostile := [][]byte{
		prop(0x0a, 0x7f, 0xff, 0xff, 0xff, 0x00, 0, 0, 0, 0, 0, 0, 0, 0),
		prop(bytes.Repeat([]byte{0x0a, 0, 0, 0, 1}, 20000)...),
		prop(0x08, 0, 0, 0, 2, 0, 1, 'a', 0x00, 0x40, 0x1c, 0, 0, 0, 0, 0, 0, 0, 1, 'x', 0x08, 0, 0, 0, 0, 0, 0, 0x09, 0, 0, 0x09),
	}
	for _, garbage := range append([][]byte{random, bytes.Repeat([]byte{0xff}, 4096), []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")}, hostile...) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		rtmpHandshake(t, c)
		_, _ = c.Write(garbage) // the server may already have closed
		_ = c.SetReadDeadline(time.Now().Add(4 * time.Second))
		_, err = io.Copy(io.Discard, c)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("server kept the connection open after % x...", garbage[:8])
		}
		_ = c.Close()
	}

	// The publisher is still live and sending.
	n := pub.unitCount()
	waitFor(t, 3*time.Second, func() bool { return pub.unitCount() > n+30 })
	if st := srv.Stats(); st.Publishers != 1 {
		t.Fatalf("stats = %+v, want the publisher live", st)
	}
	publisher.stop(t)
	if err := pub.waitEnded(t, 5*time.Second); err != nil {
		t.Fatalf("End(%v), want End(nil)", err)
	}
	if srv.Stats().Connections != 0 {
		waitFor(t, 2*time.Second, func() bool { return srv.Stats().Connections == 0 })
	}
}

// amfConnectHead is the start of an AMF0 "connect" command (name and
// transaction id); the command object follows.
func amfConnectHead() []byte {
	return []byte{0x02, 0, 7, 'c', 'o', 'n', 'n', 'e', 'c', 't', 0x00, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0}
}

// amfCommand frames body as one AMF0 command message (type 20) on chunk
// stream 3, after a Set Chunk Size that lets it travel in one chunk.
func amfCommand(body []byte) []byte {
	n := len(body)
	b := []byte{0x02, 0, 0, 0, 0, 0, 4, 0x01, 0, 0, 0, 0, 0x00, 0x01, 0x00, 0x00} // chunk size 65536
	b = append(b, 0x03, 0, 0, 0, byte(n>>16), byte(n>>8), byte(n), 0x14, 0, 0, 0, 0)
	return append(b, body...)
}

func TestKickClosesPublisher(t *testing.T) {
	t.Parallel()
	requireFFmpeg(t)
	rec := newPubRecorder(t)
	_, addr := startServer(t, rec.ingest(), Config{})
	publisher := startFFmpeg(t, "rtmp://"+addr+"/LiveApp/kicked", 20)
	pub := rec.next(t, 3*time.Second)
	pub.waitStarted(t, 3*time.Second)
	close(pub.kicked)
	if err := pub.waitEnded(t, 3*time.Second); err != nil {
		t.Fatalf("End(%v), want End(nil)", err)
	}
	select {
	case r := <-publisher.done:
		if r.err == nil {
			t.Fatal("kicked ffmpeg exited without error")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("kicked ffmpeg still running")
	}
}

// Cancelling Run closes the listener and every connection, ends the
// publications and returns; goleak (TestMain) checks the goroutines.
func TestRunStopsOnCancel(t *testing.T) {
	t.Parallel()
	requireFFmpeg(t)
	rec := newPubRecorder(t)
	srv, err := New(Config{Addr: "127.0.0.1:0", Logger: testLogger(t)}, rec.ingest())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	select {
	case <-srv.Ready():
	case <-time.After(2 * time.Second):
		t.Fatal("not listening")
	}
	addr := srv.Addr().String()

	publisher := startFFmpeg(t, "rtmp://"+addr+"/LiveApp/shutdown", 20)
	pub := rec.next(t, 3*time.Second)
	pub.waitStarted(t, 3*time.Second)
	idle, err := net.Dial("tcp", addr) // mid-handshake
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	waitFor(t, 2*time.Second, func() bool { return srv.Stats().Connections == 2 })

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return within 5s of cancel")
	}
	if err := pub.waitEnded(t, time.Second); err != nil {
		t.Fatalf("End(%v), want End(nil)", err)
	}
	if st := srv.Stats(); st.Connections != 0 || st.Publishers != 0 {
		t.Fatalf("stats after Run = %+v", st)
	}
	_ = idle.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.Copy(io.Discard, idle); err != nil {
		t.Fatalf("idle connection not closed: %v", err)
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Fatal("still accepting after Run returned")
	}
	select {
	case <-publisher.done:
	case <-time.After(5 * time.Second):
		t.Fatal("ffmpeg still running after shutdown")
	}
}

// A client that stalls in the handshake is disconnected after HandshakeTimeout.
func TestHandshakeTimeout(t *testing.T) {
	t.Parallel()
	srv, addr := startServer(t, newPubRecorder(t).ingest(), Config{HandshakeTimeout: 300 * time.Millisecond})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte{3}); err != nil { // C0 only
		t.Fatal(err)
	}
	start := time.Now()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = io.Copy(io.Discard, c) // S0 and S1, then the close
	if err != nil {
		t.Fatalf("connection not closed by the server: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("closed after %v, want about 300ms", d)
	}
	waitFor(t, time.Second, func() bool { return srv.Stats().Connections == 0 })
}

func TestNewRejectsBadConfig(t *testing.T) {
	ingest := newPubRecorder(t).ingest()
	if _, err := New(Config{}, nil); err == nil {
		t.Fatal("New accepted a nil ingest")
	}
	for _, cfg := range []Config{
		{ReadTimeout: -time.Second},
		{MaxChunkSize: 64},
		{MaxChunkStreams: 2},
		{MaxMessageSize: -1},
	} {
		if _, err := New(cfg, ingest); err == nil {
			t.Fatalf("New accepted %+v", cfg)
		}
	}
	srv, err := New(Config{}, ingest)
	if err != nil {
		t.Fatal(err)
	}
	if srv.cfg.Addr != ":1935" || srv.cfg.MaxStartWait != 3*time.Second || srv.Addr() != nil {
		t.Fatalf("defaults: %+v, addr %v", srv.cfg, srv.Addr())
	}
}
