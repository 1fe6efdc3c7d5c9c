package webrtc

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/ports"
	pion "github.com/pion/webrtc/v4"
)

// clientOffer is an offer (without candidates) from a pion client that
// sends (send true) or receives audio and video.
func clientOffer(t *testing.T, send bool, videoCodecs ...pion.RTPCodecParameters) string {
	t.Helper()
	api := clientAPI(t)
	if len(videoCodecs) > 0 {
		me := &pion.MediaEngine{}
		for _, c := range videoCodecs {
			if err := me.RegisterCodec(c, pion.RTPCodecTypeVideo); err != nil {
				t.Fatal(err)
			}
		}
		api = pion.NewAPI(pion.WithMediaEngine(me))
	}
	pc, err := api.NewPeerConnection(pion.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = pc.GracefulClose() }()
	dir := pion.RTPTransceiverDirectionRecvonly
	if send {
		dir = pion.RTPTransceiverDirectionSendonly
	}
	kinds := []pion.RTPCodecType{pion.RTPCodecTypeVideo}
	if len(videoCodecs) == 0 {
		kinds = append(kinds, pion.RTPCodecTypeAudio)
	}
	for _, k := range kinds {
		if _, err := pc.AddTransceiverFromKind(k, pion.RTPTransceiverInit{Direction: dir}); err != nil {
			t.Fatal(err)
		}
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	return offer.SDP
}

func TestRefusals(t *testing.T) {
	h264Stream := media.NewStream([]media.Track{{Codec: media.H264, ClockRate: 90000}}, media.StreamConfig{})
	defer h264Stream.Close()
	hevcStream := media.NewStream([]media.Track{{Codec: media.H265, ClockRate: 90000}, {Codec: media.AAC, ClockRate: 48000}}, media.StreamConfig{})
	defer hevcStream.Close()
	ingest := fakeIngest{publish: func(_ context.Context, req ports.PublishRequest) (ports.Publication, error) {
		switch req.Key.ID {
		case "busy":
			return nil, fmt.Errorf("claim: %w", ports.ErrStreamBusy)
		case "secret":
			return nil, ports.ErrUnauthorized
		case "edge":
			return nil, ports.ErrRoleRefused
		}
		return nil, ports.ErrUnknownApp
	}}
	play := fakePlayback{play: func(_ context.Context, req ports.PlayRequest) (*media.Stream, error) {
		switch req.Key.ID {
		case "live":
			return h264Stream, nil
		case "hevc":
			return hevcStream, nil
		}
		return nil, ports.ErrStreamNotFound
	}}
	_, hs := newTestServer(t, Config{}, ingest, play)

	pubOffer := clientOffer(t, true)
	viewOffer := clientOffer(t, false)
	vp8Only := clientOffer(t, false, pion.RTPCodecParameters{
		RTPCodecCapability: pion.RTPCodecCapability{MimeType: pion.MimeTypeVP8, ClockRate: 90000}, PayloadType: 96,
	})
	tests := []struct {
		name, method, path, ctype, body string
		want                            int
	}{
		{"malformed SDP", "POST", "/LiveApp/whip/cam1", "application/sdp", "hello", 400},
		{"SDP without media", "POST", "/LiveApp/whep/live", "application/sdp", "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n", 400},
		{"publish offer that sends nothing", "POST", "/LiveApp/whip/cam1", "application/sdp", viewOffer, 400},
		{"not SDP", "POST", "/LiveApp/whip/cam1", "application/json", "{}", 415},
		{"busy stream", "POST", "/LiveApp/whip/busy", "application/sdp", pubOffer, 409},
		{"unknown app (publish)", "POST", "/Nope/whip/cam1", "application/sdp", pubOffer, 404},
		{"unauthorized without token", "POST", "/LiveApp/whip/secret", "application/sdp", pubOffer, 401},
		{"unauthorized with token", "POST", "/LiveApp/whip/secret?token=x", "application/sdp", pubOffer, 403},
		{"role refused", "POST", "/LiveApp/whip/edge", "application/sdp", pubOffer, 421},
		{"invalid stream id", "POST", "/LiveApp/whip/a..b", "application/sdp", pubOffer, 400},
		{"unknown stream", "POST", "/LiveApp/whep/nothing", "application/sdp", viewOffer, 404},
		{"viewer without H.264", "POST", "/LiveApp/whep/live", "application/sdp", vp8Only, 406},
		{"stream WebRTC cannot carry", "POST", "/LiveApp/whep/hevc", "application/sdp", viewOffer, 406},
		{"too large", "POST", "/LiveApp/whep/live", "application/sdp", strings.Repeat("a", 70<<10), 413},
		{"trickle PATCH", "PATCH", "/LiveApp/whep/live/abc", "application/trickle-ice-sdpfrag", "a=x", 405},
		{"DELETE of no session", "DELETE", "/LiveApp/whep/live/abc", "", "", 404},
		{"preflight", "OPTIONS", "/LiveApp/whep/live", "", "", 204},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, hs.URL+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.ctype != "" {
				req.Header.Set("Content-Type", tt.ctype)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("%s %s = %d, want %d", tt.method, tt.path, resp.StatusCode, tt.want)
			}
			if resp.Header.Get("Access-Control-Allow-Origin") != "*" {
				t.Fatal("no CORS header")
			}
			if tt.method == "OPTIONS" && !strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "POST") {
				t.Fatalf("preflight headers %v", resp.Header)
			}
		})
	}
}

func TestMaxViewers(t *testing.T) {
	st := media.NewStream([]media.Track{{Codec: media.H264, ClockRate: 90000}}, media.StreamConfig{})
	defer st.Close()
	play := fakePlayback{play: func(context.Context, ports.PlayRequest) (*media.Stream, error) { return st, nil }}
	s, hs := newTestServer(t, Config{MaxViewers: 1}, fakeIngest{publish: noPublish}, play)
	offer := clientOffer(t, false)
	if resp, body := postSDP(t, hs.URL+"/LiveApp/whep/cam1", offer); resp.StatusCode != http.StatusCreated {
		t.Fatalf("first viewer: %d %s", resp.StatusCode, body)
	}
	if resp, _ := postSDP(t, hs.URL+"/LiveApp/whep/cam1", offer); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("second viewer: %d, want 503", resp.StatusCode)
	}
	if n := s.Viewers(testKey); n != 1 {
		t.Fatalf("Viewers = %d", n)
	}
}

func TestNewValidatesConfig(t *testing.T) {
	for name, cfg := range map[string]Config{
		"bad port range": {UDPPortMin: 6000, UDPPortMax: 5000},
		"bad mux port":   {UDPMuxPort: 70000},
		"bad advertise":  {AdvertiseIPs: []string{"not-an-ip"}},
		"negative max":   {MaxViewers: -1},
		"tiny messages":  {MaxMessageBytes: 10},
		"empty ICE URL":  {ICEServers: []ICEServer{{}}},
		"NACK buffer":    {NACKBuffer: 300},
		"short packing":  {AudioPack: 20 * time.Millisecond},
		"long packing":   {AudioPack: 200 * time.Millisecond},
	} {
		if _, err := New(cfg, fakeIngest{publish: noPublish}, fakePlayback{play: noPlay}); err == nil {
			t.Errorf("%s: New accepted %+v", name, cfg)
		}
	}
	if _, err := New(Config{}, nil, nil); err == nil {
		t.Error("New accepted nil ports")
	}
}

// A mux port another process (a second node on the host) holds: New fails
// and says which setting to change.
func TestMuxPortInUse(t *testing.T) {
	taken, err := net.ListenUDP("udp", &net.UDPAddr{})
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	port := taken.LocalAddr().(*net.UDPAddr).Port
	_, err = New(Config{UDPMuxPort: port}, fakeIngest{publish: noPublish}, fakePlayback{play: noPlay})
	if !errors.Is(err, syscall.EADDRINUSE) || !strings.Contains(err.Error(), "webrtc.udp_mux_port") {
		t.Fatalf("New on a taken mux port: %v, want EADDRINUSE naming webrtc.udp_mux_port", err)
	}
}

func TestCPULimitRefusesViewers(t *testing.T) {
	st := media.NewStream([]media.Track{{Codec: media.H264, ClockRate: 90000}}, media.StreamConfig{})
	defer st.Close()
	play := fakePlayback{play: func(context.Context, ports.PlayRequest) (*media.Stream, error) { return st, nil }}
	// No sampler (negative limit); the test sets the limit and the load.
	s, hs := newTestServer(t, Config{CPULimit: -1}, fakeIngest{publish: noPublish}, play)
	s.cfg.CPULimit = 0.5
	offer := clientOffer(t, false)
	s.cpu.Store(math.Float64bits(0.8))
	resp, body := postSDP(t, hs.URL+"/LiveApp/whep/cam1", offer)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "CPU at 80%") {
		t.Fatalf("viewer at 80%% CPU: %d %q, want 503 with Retry-After", resp.StatusCode, body)
	}
	s.cpu.Store(math.Float64bits(0.3))
	if resp, body := postSDP(t, hs.URL+"/LiveApp/whep/cam1", offer); resp.StatusCode != http.StatusCreated {
		t.Fatalf("viewer at 30%% CPU: %d %s", resp.StatusCode, body)
	}
}

func TestCPULoadSample(t *testing.T) {
	var used time.Duration
	t0 := time.Unix(100, 0)
	c := newCPULoad(func() time.Duration { return used }, t0)
	c.cores = 2
	used = 1500 * time.Millisecond
	if got := c.sample(t0.Add(time.Second)); got != 0.75 {
		t.Fatalf("1.5 s of CPU in 1 s on 2 cores = %v, want 0.75", got)
	}
	used += 200 * time.Millisecond
	if got := c.sample(t0.Add(3 * time.Second)); got != 0.05 {
		t.Fatalf("0.2 s of CPU in 2 s on 2 cores = %v, want 0.05", got)
	}
	if got := c.sample(t0.Add(3 * time.Second)); got != 0 {
		t.Fatalf("no time passed: %v", got)
	}
}

// loadFunc is a ports.LoadSampler returning the machine CPU it is told.
type loadFunc func() float64

func (f loadFunc) Sample() (float64, uint64, uint64) { return f(), 0, 0 }

// With Config.MachineLoad, the limit follows the machine's CPU use, as the
// server samples it every second, not the server's own.
func TestCPULimitFollowsMachineLoad(t *testing.T) {
	st := media.NewStream([]media.Track{{Codec: media.H264, ClockRate: 90000}}, media.StreamConfig{})
	defer st.Close()
	play := fakePlayback{play: func(context.Context, ports.PlayRequest) (*media.Stream, error) { return st, nil }}
	var machine atomic.Uint64 // percent
	machine.Store(97)
	load := loadFunc(func() float64 { return float64(machine.Load()) })
	_, hs := newTestServer(t, Config{CPULimit: 0.9, MachineLoad: load}, fakeIngest{publish: noPublish}, play)
	offer := clientOffer(t, false)
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, body := postSDP(t, hs.URL+"/LiveApp/whep/cam1", offer)
		if resp.StatusCode == http.StatusServiceUnavailable && strings.Contains(body, "CPU at 97%") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("machine at 97%%: %d %q, want 503 once sampled", resp.StatusCode, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	machine.Store(20)
	deadline = time.Now().Add(5 * time.Second)
	for {
		resp, _ := postSDP(t, hs.URL+"/LiveApp/whep/cam1", offer)
		if resp.StatusCode == http.StatusCreated {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("machine at 20%%: still %d", resp.StatusCode)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
