package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2"
	"github.com/sirupsen/logrus"
	gortmp "github.com/yutopp/go-rtmp"
	"github.com/yutopp/go-rtmp/message"
)

// runCLI runs colony-bench with args and returns its stdout and stderr.
func runCLI(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err = newApp(&out, &errOut).RunContext(ctx, append([]string{"colony-bench"}, args...))
	return out.String(), errOut.String(), err
}

// checkResult asserts that one viewer got media and a latency figure.
func checkResult(t *testing.T, r result) {
	t.Helper()
	if r.Viewers != 1 || r.Connected != 1 || r.Failed != 0 || r.Frames < 20 || r.Bytes < 100_000 {
		t.Errorf("%s: viewers %d connected %d failed %d frames %d bytes %d; errors %v",
			r.Mode, r.Viewers, r.Connected, r.Failed, r.Frames, r.Bytes, r.Errors)
	}
	// Each frame arrives (WebRTC: at the socket) no later than it is
	// displayed, so every order statistic of the one is at most the other's.
	if !r.Stamped || r.Latency.N < 20 || r.Latency.P50 < 0 || r.Latency.Max > 10_000 || r.RecvLat.N != r.Latency.N ||
		r.RecvLat.P50 < 0 || r.RecvLat.P50 > r.Latency.P50 || r.RecvLat.P95 > r.Latency.P95 || r.RecvLat.Max > r.Latency.Max {
		t.Errorf("%s: latency %+v, receive latency %+v: not plausible", r.Mode, r.Latency, r.RecvLat)
	}
	if r.TTFF.N != 1 || r.TTFF.P50 <= 0 {
		t.Errorf("%s: time to first frame %+v", r.Mode, r.TTFF)
	}
	webrtc := r.Mode == modeWHEP || r.Mode == modeWS
	if webrtc && (r.TTFFConn.N != 1 || r.TTFFConn.P50 < 0 || r.TTFFConn.P50 > r.TTFF.P50) {
		t.Errorf("%s: first frame after connecting %+v (all of it %+v)", r.Mode, r.TTFFConn, r.TTFF)
	}
	// The fake sends an Opus packet per AAC frame of the clip (about 47 a
	// second); HLS viewers count none (the audio is in the segments).
	if webrtc && (r.AudioPPS < 20 || r.AudioPPS > 60) || !webrtc && r.AudioPackets != 0 {
		t.Errorf("%s: %d audio packets, %.1f a second per viewer", r.Mode, r.AudioPackets, r.AudioPPS)
	}
	if !webrtc && r.TTFFConn.N != 0 {
		t.Errorf("%s: a connection time for an HTTP viewer: %+v", r.Mode, r.TTFFConn)
	}
	// Linux sockets give the viewer's last handshake datagram and the
	// first frame's arrival; the frame comes after it, and after the
	// viewer started.
	wantHS := webrtc && runtime.GOOS == "linux"
	if hs := r.TTFFHandshake; wantHS && (hs.N != 1 || hs.P50 <= 0 || hs.P50 > r.TTFF.P50) || !wantHS && hs.N != 0 {
		t.Errorf("%s: first frame after the handshake %+v (all of it %+v)", r.Mode, hs, r.TTFF)
	}
	if r.Server == nil || r.Server.PeakRSS == 0 || r.Generator.PeakRSS == 0 {
		t.Errorf("%s: no process figures: server %+v generator %+v", r.Mode, r.Server, r.Generator)
	}
}

// One viewer of each kind gets media and a latency figure from an
// in-process server fed by the harness's own stamping pacer; the results
// come out as JSON lines and a table. The WebRTC viewers' sockets take UDP
// GRO (--viewer-gro), which their results and rows say.
func TestSmokeMatrix(t *testing.T) {
	target := newFakeTarget(t, gohlslib.MuxerVariantLowLatency, 100)
	stdout, stderr, err := runCLI(t, "matrix",
		"--hls", target.url+"/hls/index.m3u8", "--whep", target.url+"/whep",
		"--ws", strings.Replace(target.url, "http://", "ws://", 1)+"/ws", "--stream", "stream1",
		"--hls-ref", target.url+"/hls/index.m3u8",
		"--runs", "hls:1,llhls:1,whep:1,ws:1", "--duration", "2s", "--warmup", "1500ms", "--pause", "0s",
		"--server-pid", fmt.Sprint(os.Getpid()), "--label", "fake", "--viewer-gro", "--json")
	if err != nil {
		t.Fatalf("matrix: %v\n%s", err, stderr)
	}
	rs, err := readResults(strings.NewReader(stdout))
	if err != nil || len(rs) != 4 {
		t.Fatalf("%d results (%v) from:\n%s\n%s", len(rs), err, stdout, stderr)
	}
	for i, mode := range []string{modeHLS, modeLLHLS, modeWHEP, modeWS} {
		if rs[i].Mode != mode || rs[i].Label != "fake" {
			t.Fatalf("result %d is %s/%s, want %s/fake", i, rs[i].Mode, rs[i].Label, mode)
		}
		if webrtc := mode == modeWHEP || mode == modeWS; rs[i].ViewerGRO != webrtc {
			t.Errorf("%s: viewer_gro %v", mode, rs[i].ViewerGRO)
		}
		checkResult(t, rs[i])
		checkSegmentProbe(t, rs[i])
	}
	if !strings.Contains(stderr, "lat p50") || !strings.Contains(stderr, "arrive p50") ||
		!strings.Contains(stderr, "at the viewer's UDP socket") || strings.Count(stderr, "fake") != 6 || !strings.Contains(stderr, "aud/s") ||
		!strings.Contains(stderr, "whep+gro") || !strings.Contains(stderr, "ws+gro") ||
		strings.Count(stderr, "segments listed at the played URL") != 2 {
		t.Errorf("table missing from stderr:\n%s", stderr)
	}
	t.Logf("\n%s", stderr)
}

// With churn, viewers leave after their lifetime and others take their
// places: more sessions than viewers, each playing, and the server's
// gauge of open sessions is read before, at the end, and back at zero
// once they have left, the sessions closed without a DELETE included.
func TestSmokeChurn(t *testing.T) {
	target := newFakeTarget(t, gohlslib.MuxerVariantLowLatency, 0)
	stdout, stderr, err := runCLI(t, "matrix",
		"--hls", target.url+"/hls/index.m3u8", "--whep", target.url+"/whep",
		"--runs", "whep:2@2500ms-3500ms,llhls:2@1s-2s", "--duration", "6s", "--warmup", "500ms", "--pause", "0s",
		"--server-metrics", target.url+"/metrics", "--server-gauges", "fake_whep_sessions", "--settle", "10s",
		"--label", "fake", "--json")
	if err != nil {
		t.Fatalf("matrix: %v\n%s", err, stderr)
	}
	rs, err := readResults(strings.NewReader(stdout))
	if err != nil || len(rs) != 2 {
		t.Fatalf("%d results (%v) from:\n%s\n%s", len(rs), err, stdout, stderr)
	}
	for i, want := range []string{"2.5s-3.5s", "1s-2s"} {
		r := rs[i]
		// Each viewer lives at most 3.5 s of the 6.5 s run: at least two
		// sessions each, all of which play (the clip's keyframes come
		// every second) but those the run's end cut short.
		if r.Churn != want || r.Viewers != 2 || r.Sessions < 4 || r.Failed != 0 || r.Connected < r.Sessions-2 {
			t.Errorf("%s: churn %q viewers %d sessions %d connected %d failed %d (%v)", r.Mode, r.Churn, r.Viewers, r.Sessions, r.Connected, r.Failed, r.Errors)
		}
		if r.Stalls != 0 || r.Latency.N == 0 {
			t.Errorf("%s: %d stalls, latency %+v", r.Mode, r.Stalls, r.Latency)
		}
		g, ok := r.ServerGauges["fake_whep_sessions"]
		switch {
		case !ok:
			t.Errorf("%s: no server gauge: %+v", r.Mode, r.ServerGauges)
		case r.Mode == modeWHEP && (g.Before != 0 || g.End < 1 || g.End > 2 || g.After != 0 || g.AfterS > 10):
			t.Errorf("whep: sessions %+v, want 0 before, 1-2 at the end, 0 after", g)
		case r.Mode == modeLLHLS && (g.Before != 0 || g.End != 0 || g.After != 0):
			t.Errorf("llhls: WHEP sessions %+v", g)
		}
	}
	if !strings.Contains(stderr, "whep@2.5s-3.5s") || !strings.Contains(stderr, "fake whep:2@2.5s-3.5s: server fake_whep_sessions 0 before") ||
		!strings.Contains(stderr, "viewer sessions of 2.5s-3.5s each") {
		t.Errorf("table without the churn:\n%s", stderr)
	}
	t.Logf("\n%s", stderr)
}

// The hls.js-like viewer reads MPEG-TS segments too (nginx-rtmp's output).
func TestSmokeMPEGTS(t *testing.T) {
	target := newFakeTarget(t, gohlslib.MuxerVariantMPEGTS, 0)
	stdout, stderr, err := runCLI(t, "run", "--mode", "hls", "--hls", target.url+"/hls/index.m3u8",
		"--hls-ref", target.url+"/hls/index.m3u8", "--duration", "2s", "--warmup", "1s", "--server-pid", fmt.Sprint(os.Getpid()), "--json")
	if err != nil {
		t.Fatalf("run: %v\n%s", err, stderr)
	}
	rs, err := readResults(strings.NewReader(stdout))
	if err != nil || len(rs) != 1 {
		t.Fatalf("%d results (%v) from:\n%s", len(rs), err, stdout)
	}
	checkResult(t, rs[0])
	checkSegmentProbe(t, rs[0]) // polled: gohlslib's MPEG-TS playlists do not block
}

// checkSegmentProbe asserts that an HLS run with --hls-ref pointing at its
// own playlist found each segment listed at both at the same moment (to
// within 100 ms), and that other runs have no probe.
func checkSegmentProbe(t *testing.T, r result) {
	t.Helper()
	// A probe that paired the wrong segments would be a part (200 ms) or a
	// segment (1 s) out. Less than that is the two sides' reloads being
	// scheduled apart: 33 ms was seen with CI's packages sharing 2 cores.
	const maxMs = 100.0
	if r.Mode != modeHLS && r.Mode != modeLLHLS {
		if r.SegmentDelay != nil || r.SegmentRef != "" {
			t.Errorf("%s: a segment probe: %+v", r.Mode, r.SegmentDelay)
		}
		return
	}
	if d := r.SegmentDelay; d == nil || d.N < 1 || d.N != r.SegmentsMatched || d.P50 < -maxMs || d.P50 > maxMs ||
		r.SegmentProbeErr != "" {
		t.Errorf("%s: segment delay %+v, %d matched, error %q: want segments listed at once at both",
			r.Mode, d, r.SegmentsMatched, r.SegmentProbeErr)
	}
}

// rtmpCatcher is a go-rtmp server handler that keeps what a publisher sends.
type rtmpCatcher struct {
	gortmp.DefaultHandler
	mu      sync.Mutex
	app     string
	name    string
	video   [][]byte
	audio   int
	ts      []uint32
	arrived []time.Time
}

func (h *rtmpCatcher) OnConnect(_ uint32, cmd *message.NetConnectionConnect) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.app = cmd.Command.App
	return nil
}

func (h *rtmpCatcher) OnPublish(_ *gortmp.StreamContext, _ uint32, cmd *message.NetStreamPublish) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.name = cmd.PublishingName
	return nil
}

func (h *rtmpCatcher) OnVideo(ts uint32, payload io.Reader) error {
	b, err := io.ReadAll(payload)
	if err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.video = append(h.video, b)
	h.ts = append(h.ts, ts)
	h.arrived = append(h.arrived, time.Now())
	return nil
}

func (h *rtmpCatcher) OnAudio(uint32, io.Reader) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.audio++
	return nil
}

// The publisher sends the AVC sequence header, then every frame in real
// time with a stamp of its send time.
func TestRTMPPublisher(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &rtmpCatcher{}
	lg := logrus.New()
	lg.Out = io.Discard
	srv := gortmp.NewServer(&gortmp.ServerConfig{OnConnect: func(c net.Conn) (io.ReadWriteCloser, *gortmp.ConnConfig) {
		return c, &gortmp.ConnConfig{Handler: h, Logger: lg}
	}})
	var wg sync.WaitGroup
	wg.Go(func() { _ = srv.Serve(ln) })
	t.Cleanup(func() { _ = srv.Close(); wg.Wait() })

	p, err := newPublisher("rtmp://"+ln.Addr().String()+"/LiveApp/bench1", testClip(t),
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	if err := p.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	time.Sleep(100 * time.Millisecond) // let the last messages land

	h.mu.Lock()
	defer h.mu.Unlock()
	if h.app != "LiveApp" || h.name != "bench1" {
		t.Fatalf("published %s/%s, want LiveApp/bench1", h.app, h.name)
	}
	if len(h.video) < 30 || h.audio < 40 {
		t.Fatalf("%d video and %d audio messages in 1.5 s", len(h.video), h.audio)
	}
	if !bytes.Equal(h.video[0][:2], []byte{0x17, 0}) {
		t.Fatalf("first video message % x is not an AVC sequence header", h.video[0][:5])
	}
	for i := 1; i < len(h.video); i++ {
		v := h.video[i]
		if v[1] != 1 || ((i-1)%30 == 0) != (v[0] == 0x17) {
			t.Fatalf("video %d header % x", i, v[:5])
		}
		info := inspectAVCC(v[5:])
		sent := time.Unix(0, info.stamp)
		if !info.stamped || sent.After(h.arrived[i]) || h.arrived[i].Sub(sent) > 200*time.Millisecond {
			t.Fatalf("video %d: stamp %v, arrived %v", i, sent, h.arrived[i])
		}
		if want := (i - 1) * 1000 / 30; int(h.ts[i]) < want-1 || int(h.ts[i]) > want+1 {
			t.Fatalf("video %d timestamp %d ms, want %d", i, h.ts[i], want)
		}
	}
	if n := binary.BigEndian.Uint32(h.video[1][5:]); n == 0 {
		t.Fatal("empty first NAL unit")
	}
	if late := time.Duration(p.stats.lateMax.Load()); late > 500*time.Millisecond {
		t.Errorf("pacer fell %v behind", late)
	}
}
