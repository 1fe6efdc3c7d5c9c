package webrtc

import (
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/ports"
	pion "github.com/pion/webrtc/v4"
)

// loadClip is the repository's 720p30 clip as an H.264 fixture.
func loadClip(t *testing.T) h264Fixture {
	t.Helper()
	clip, err := filepath.Abs("../../testdata/clip-720p30.mp4")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "clip.h264")
	out, err := exec.Command("ffmpeg", "-v", "error", "-i", clip, "-map", "0:v:0", "-c:v", "copy",
		"-bsf:v", "h264_mp4toannexb,h264_metadata=aud=insert", "-f", "h264", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	return parseH264Fixture(t, path)
}

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestLoadViewers plays the 720p30 clip in real time to
// COLONY_WEBRTC_LOAD WHEP viewers (pion clients in this process) for
// COLONY_WEBRTC_LOAD_SECS seconds (default 20), and reports the CPU and
// heap of the whole process (server and clients); COLONY_WEBRTC_LOAD_HEAP
// names a heap profile to write under load. It is for profiling:
//
//	COLONY_WEBRTC_LOAD=100 go test -run TestLoadViewers -cpuprofile cpu.out -memprofile mem.out ./adapters/webrtc
//
// The server's share of the CPU profile is its samples labelled
// side=server (see below); COLONY_WEBRTC_LOAD_MUX=port serves every
// viewer on one UDP port (Config.UDPMuxPort).
func TestLoadViewers(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("COLONY_WEBRTC_LOAD"))
	if n <= 0 {
		t.Skip("set COLONY_WEBRTC_LOAD=N to run N viewers")
	}
	secs, _ := strconv.Atoi(os.Getenv("COLONY_WEBRTC_LOAD_SECS"))
	if secs <= 0 {
		secs = 20
	}
	fx := loadClip(t)
	st := media.NewStream([]media.Track{{Codec: media.H264, ClockRate: 90000, SPS: fx.sps, PPS: fx.pps, Width: 1280, Height: 720}}, media.StreamConfig{})
	defer st.Close()
	play := fakePlayback{play: func(context.Context, ports.PlayRequest) (*media.Stream, error) { return st, nil }}
	cfg := Config{CPULimit: -1, LagLimit: -1} // the clients share the process: no refusal, no shedding
	if p, _ := strconv.Atoi(os.Getenv("COLONY_WEBRTC_LOAD_MUX")); p > 0 {
		cfg.UDPMuxPort = p
		cfg.noBatch = os.Getenv("COLONY_WEBRTC_LOAD_NOBATCH") != ""
		cfg.noGSO = os.Getenv("COLONY_WEBRTC_LOAD_NOGSO") != ""
	}
	// The server's goroutines (and those they start) carry the profile
	// label side=server, so that a CPU profile tells the server from the
	// clients: go tool pprof -tagfocus side=server -top cpu.out
	var hs *httptest.Server
	pprof.Do(context.Background(), pprof.Labels("side", "server"), func(context.Context) {
		_, hs = newTestServer(t, cfg, fakeIngest{publish: noPublish}, play)
	})

	publishLoop(t, st, fx)

	var nbytes, pkts, lost atomic.Int64
	for i := range n {
		pc := newClientPC(t)
		if _, err := pc.AddTransceiverFromKind(pion.RTPCodecTypeVideo, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
		pc.OnTrack(func(tr *pion.TrackRemote, _ *pion.RTPReceiver) {
			buf := make([]byte, 1500)
			var gaps seqGaps
			for {
				k, _, err := tr.Read(buf)
				if err != nil {
					return
				}
				nbytes.Add(int64(k))
				pkts.Add(1)
				if k >= 4 {
					lost.Add(gaps.add(uint16(buf[2])<<8 | uint16(buf[3])))
				}
			}
		})
		resp, answer := postSDP(t, hs.URL+"/LiveApp/whep/cam1", gatheredOffer(t, pc))
		if resp.StatusCode != 201 {
			t.Fatalf("viewer %d: %d %s", i, resp.StatusCode, answer)
		}
		if err := pc.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeAnswer, SDP: answer}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(5 * time.Second) // warm up
	runtime.GC()
	var m0 runtime.MemStats
	runtime.ReadMemStats(&m0)
	if path := os.Getenv("COLONY_WEBRTC_LOAD_CPU"); path != "" { // a CPU profile of the measured window only
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = f.Close() }()
		defer pprof.StopCPUProfile()
	}
	c0, b0, p0, l0, w0 := cpuTime(), nbytes.Load(), pkts.Load(), lost.Load(), time.Now()
	time.Sleep(time.Duration(secs) * time.Second)
	c1, b1, p1, l1, w1 := cpuTime(), nbytes.Load(), pkts.Load(), lost.Load(), time.Now()
	var m1 runtime.MemStats
	runtime.ReadMemStats(&m1)
	if path := os.Getenv("COLONY_WEBRTC_LOAD_HEAP"); path != "" { // a heap profile under load
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := pprof.WriteHeapProfile(f); err != nil {
			t.Fatal(err)
		}
		_ = f.Close()
	}
	wall := w1.Sub(w0).Seconds()
	t.Logf("%d viewers: process CPU %.2f cores, %.1f µs per packet; received %.2f Mbit/s per viewer, %.0f packets/s in all, %d skipped sequence numbers; heap in use %.1f MB, sys %.1f MB, %d goroutines; %.0f allocs/s",
		n, (c1-c0).Seconds()/wall, float64((c1-c0).Microseconds())/float64(max(p1-p0, 1)),
		float64(b1-b0)*8/wall/1e6/float64(n), float64(p1-p0)/wall, l1-l0,
		float64(m1.HeapInuse)/1e6, float64(m1.Sys)/1e6, runtime.NumGoroutine(), float64(m1.Mallocs-m0.Mallocs)/wall)
}

// seqGaps counts the RTP sequence numbers skipped by a stream of packets
// (a late retransmission fills no gap: it is not subtracted back).
type seqGaps struct {
	started bool
	last    uint16
}

// add records seq and returns how many numbers it skips after the newest.
func (g *seqGaps) add(seq uint16) int64 {
	if !g.started {
		g.started, g.last = true, seq
		return 0
	}
	d := seq - g.last
	if d == 0 || d >= 0x8000 { // a duplicate or an older packet
		return 0
	}
	g.last = seq
	return int64(d - 1)
}
