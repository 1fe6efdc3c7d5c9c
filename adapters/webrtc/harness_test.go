package webrtc

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/colony-live/colony/core/codec"
	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	pion "github.com/pion/webrtc/v4"
)

// testKey is the stream the tests publish and play.
var testKey = stream.Key{App: "LiveApp", ID: "cam1"}

func loopbackOnly(ip net.IP) bool { return ip.IsLoopback() && ip.To4() != nil }

func testLogger() *slog.Logger {
	if os.Getenv("COLONY_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// fakeIngest is a hand-written ports.Ingest.
type fakeIngest struct {
	publish func(ctx context.Context, req ports.PublishRequest) (ports.Publication, error)
}

func (f fakeIngest) Publish(ctx context.Context, req ports.PublishRequest) (ports.Publication, error) {
	return f.publish(ctx, req)
}

// fakePlayback is a hand-written ports.Playback.
type fakePlayback struct {
	play func(ctx context.Context, req ports.PlayRequest) (*media.Stream, error)
}

func (f fakePlayback) Play(ctx context.Context, req ports.PlayRequest) (*media.Stream, error) {
	return f.play(ctx, req)
}

// fakePub records what a publisher does with its Publication. Start
// subscribes a reader at once, so that every unit written is kept.
type fakePub struct {
	req     ports.PublishRequest
	kicked  chan struct{}
	started chan []media.Track
	ended   chan error

	mu     sync.Mutex
	st     *media.Stream
	reader *media.Reader
}

func newFakePub(req ports.PublishRequest) *fakePub {
	return &fakePub{req: req, kicked: make(chan struct{}), started: make(chan []media.Track, 1), ended: make(chan error, 1)}
}

func (p *fakePub) Start(tracks []media.Track) (*media.Stream, error) {
	st := media.NewStream(tracks, media.StreamConfig{QueueSize: 4096})
	r, err := st.Subscribe()
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.st, p.reader = st, r
	p.mu.Unlock()
	p.started <- tracks
	return st, nil
}

func (p *fakePub) Kicked() <-chan struct{} { return p.kicked }

func (p *fakePub) End(err error) {
	p.mu.Lock()
	if p.st != nil {
		p.st.Close()
	}
	p.mu.Unlock()
	p.ended <- err
}

// units drains what was written so far.
func (p *fakePub) units() []*media.Unit {
	p.mu.Lock()
	r := p.reader
	p.mu.Unlock()
	if r == nil {
		return nil
	}
	var us []*media.Unit
	for r.Queued() > 0 {
		u, err := r.Next(context.Background())
		if err != nil {
			break
		}
		us = append(us, u)
	}
	return us
}

func noPublish(context.Context, ports.PublishRequest) (ports.Publication, error) {
	return nil, ports.ErrUnknownApp
}

func noPlay(context.Context, ports.PlayRequest) (*media.Stream, error) {
	return nil, ports.ErrStreamNotFound
}

// newTestServer serves s on a loopback HTTP server. Both close at cleanup.
func newTestServer(t testing.TB, cfg Config, ingest ports.Ingest, play ports.Playback) (*Server, *httptest.Server) {
	t.Helper()
	cfg.IncludeLoopback = true
	cfg.IPFilter = loopbackOnly
	if cfg.LagLimit == 0 {
		cfg.LagLimit = -1 // tests that want the send-lag guard set it: a busy test machine lags
	}
	if cfg.Logger == nil {
		cfg.Logger = testLogger()
	}
	s, err := New(cfg, ingest, play)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	s.Register(mux)
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		s.Close()
		hs.Close()
	})
	return s, hs
}

// clientAPI is a pion client that, like Chromium, lists VP8 before H.264.
func clientAPI(t testing.TB) *pion.API {
	t.Helper()
	return clientAPIWith(t, clientSettings())
}

// clientAPIWith is clientAPI with settings se.
func clientAPIWith(t testing.TB, se pion.SettingEngine) *pion.API {
	t.Helper()
	me := &pion.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	ir := &interceptor.Registry{}
	if err := pion.RegisterDefaultInterceptors(me, ir); err != nil {
		t.Fatal(err)
	}
	return pion.NewAPI(pion.WithMediaEngine(me), pion.WithInterceptorRegistry(ir), pion.WithSettingEngine(se))
}

// clientSettings are a test client's: IPv4 loopback only, no mDNS.
func clientSettings() pion.SettingEngine {
	se := pion.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(loopbackOnly)
	se.SetNetworkTypes([]pion.NetworkType{pion.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	return se
}

func newClientPC(t testing.TB) *pion.PeerConnection {
	t.Helper()
	pc, err := clientAPI(t).NewPeerConnection(pion.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.GracefulClose() })
	return pc
}

// gatheredOffer makes an offer with every candidate in it.
func gatheredOffer(t testing.TB, pc *pion.PeerConnection) string {
	t.Helper()
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	done := pion.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("client ICE gathering timed out")
	}
	return pc.LocalDescription().SDP
}

// postSDP posts an offer and returns the response and its body.
func postSDP(t *testing.T, url, offer string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Post(url, "application/sdp", strings.NewReader(offer))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

// deleteSession sends DELETE to url (a session's Location) and returns
// the status.
func deleteSession(t testing.TB, url string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodDelete, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func waitConnected(t *testing.T, pc *pion.PeerConnection) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for pc.ConnectionState() != pion.PeerConnectionStateConnected {
		if time.Now().After(deadline) {
			t.Fatalf("client not connected: %s", pc.ConnectionState())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// h264Fixture is a short H.264 clip: 320x240, 30 fps, an IDR every 30
// frames, no B-frames, with access unit delimiters, encoded by ffmpeg into
// the test's temp dir.
type h264Fixture struct {
	path     string
	sps, pps []byte
	aus      [][][]byte // access units as NAL units
}

const fixtureFrameDur = time.Second / 30

func needFFmpeg(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Fatal("ffmpeg is required by the end-to-end tests (apt-get install ffmpeg)")
	}
}

func loadH264Fixture(t *testing.T, seconds int) h264Fixture {
	t.Helper()
	return loadH264FixtureSized(t, seconds, "320x240")
}

// loadH264FixtureSized encodes a test clip of a size (WxH), one keyframe a second.
func loadH264FixtureSized(t *testing.T, seconds int, size string) h264Fixture {
	t.Helper()
	needFFmpeg(t)
	path := filepath.Join(t.TempDir(), "clip.h264")
	out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size="+size+":rate=30",
		"-t", strconv.Itoa(seconds), "-c:v", "libx264", "-g", "30", "-bf", "0", "-pix_fmt", "yuv420p",
		"-bsf:v", "h264_metadata=aud=insert", "-f", "h264", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	fx := parseH264Fixture(t, path)
	if len(fx.aus) < 30*seconds {
		t.Fatalf("fixture has %d access units", len(fx.aus))
	}
	return fx
}

// parseH264Fixture reads an Annex-B file with access unit delimiters.
func parseH264Fixture(t *testing.T, path string) h264Fixture {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fx := h264Fixture{path: path}
	for _, chunk := range splitAtAUD(raw) {
		var au h264.AnnexB
		if err := au.Unmarshal(chunk); err != nil {
			t.Fatal(err)
		}
		for _, n := range au {
			switch codec.NALUType(n) {
			case codec.NALUSPS:
				if fx.sps == nil {
					fx.sps = n
				}
			case codec.NALUPPS:
				if fx.pps == nil {
					fx.pps = n
				}
			}
		}
		fx.aus = append(fx.aus, au)
	}
	if len(fx.aus) == 0 || fx.sps == nil || fx.pps == nil {
		t.Fatalf("fixture has %d access units", len(fx.aus))
	}
	return fx
}

// splitAtAUD cuts an Annex-B stream into access units at its access unit delimiters.
func splitAtAUD(b []byte) [][]byte {
	aud := []byte{0, 0, 1, codec.NALUAUD}
	var aus [][]byte
	for {
		if len(b) < 5 {
			return aus
		}
		next := bytes.Index(b[4:], aud)
		if next < 0 {
			return append(aus, b)
		}
		cut := next + 4
		if b[cut-1] == 0 { // a 4-byte start code
			cut--
		}
		aus = append(aus, b[:cut])
		b = b[cut:]
	}
}

// unit is access unit i as a stream unit on track 0.
func (fx h264Fixture) unit(i int) *media.Unit {
	pts := time.Duration(i) * fixtureFrameDur
	return &media.Unit{Track: 0, PTS: pts, DTS: pts, Key: codec.ContainsIDR(fx.aus[i]), Data: codec.JoinAVCC(fx.aus[i])}
}

// decodeFrames decodes an Annex-B file with ffmpeg and returns the number
// of frames; any decoder error fails the test.
func decodeFrames(t *testing.T, data []byte) int {
	t.Helper()
	path := filepath.Join(t.TempDir(), "received.h264")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("ffmpeg", "-v", "error", "-f", "h264", "-i", path, "-f", "framemd5", "-")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil || stderr.Len() > 0 {
		t.Fatalf("ffmpeg could not decode what was received: %v\n%s", err, stderr.String())
	}
	n := 0
	for _, line := range strings.Split(stdout.String(), "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			n++
		}
	}
	return n
}

// liveMembers is the number of viewers live in st's fan-out on s (their
// start-up burst sent).
func liveMembers(s *Server, st *media.Stream) int {
	s.mu.Lock()
	f := s.fanouts[st]
	s.mu.Unlock()
	if f == nil {
		return 0
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, m := range f.members {
		if m.live {
			n++
		}
	}
	return n
}

// h264Stream is a video-only stream of fx with all its frames written
// (the cached GOP a viewer starts with), closed when the test ends.
func h264Stream(t *testing.T, fx h264Fixture) *media.Stream {
	t.Helper()
	st := media.NewStream([]media.Track{{Codec: media.H264, ClockRate: 90000, SPS: fx.sps, PPS: fx.pps}}, media.StreamConfig{})
	t.Cleanup(st.Close)
	for i := range fx.aus {
		st.Write(fx.unit(i))
	}
	return st
}

// publishLoop writes fx to st in real time, looping, until the test ends.
func publishLoop(t *testing.T, st *media.Stream, fx h264Fixture) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		tick := time.NewTicker(fixtureFrameDur)
		defer tick.Stop()
		loop := time.Duration(len(fx.aus)) * fixtureFrameDur
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			u := fx.unit(i % len(fx.aus))
			off := time.Duration(i/len(fx.aus)) * loop
			u.PTS, u.DTS = u.PTS+off, u.DTS+off
			st.Write(u)
		}
	}()
}

// companionStreams are a stream of H.264 and AAC and an Opus stream to
// serve as its companion, closed when the test ends.
func companionStreams(t *testing.T, fx h264Fixture) (src, companion *media.Stream) {
	t.Helper()
	src = media.NewStream([]media.Track{
		{Codec: media.H264, ClockRate: 90000, SPS: fx.sps, PPS: fx.pps, Width: 320, Height: 240},
		{Codec: media.AAC, ClockRate: 48000, SampleRate: 48000, Channels: 2},
	}, media.StreamConfig{})
	companion = media.NewStream([]media.Track{{Codec: media.Opus, ClockRate: 48000, SampleRate: 48000, Channels: 2}}, media.StreamConfig{})
	t.Cleanup(src.Close)
	t.Cleanup(companion.Close)
	return src, companion
}

// seqViewer is a viewer's video receiver that records every packet it is
// sent by sequence number, retransmissions included (its SRTP replay
// protection is off, so that they reach it), and sends no RTCP feedback
// of its own (no interceptors): only the NACKs a test writes.
type seqViewer struct {
	pc *pion.PeerConnection

	mu          sync.Mutex
	seen        map[uint16]int // times each sequence number arrived
	ssrc        uint32
	last        uint16 // the sequence number of the latest first arrival
	firstBytes  int    // payload bytes of first arrivals
	resentBytes int    // payload bytes of repeats
}

func newSeqViewer(t *testing.T) *seqViewer {
	t.Helper()
	me := &pion.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	se := clientSettings()
	se.DisableSRTPReplayProtection(true)
	pc, err := pion.NewAPI(pion.WithMediaEngine(me), pion.WithSettingEngine(se)).NewPeerConnection(pion.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	if _, err := pc.AddTransceiverFromKind(pion.RTPCodecTypeVideo, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	v := &seqViewer{pc: pc, seen: map[uint16]int{}}
	pc.OnTrack(func(tr *pion.TrackRemote, _ *pion.RTPReceiver) {
		for {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			v.mu.Lock()
			v.seen[pkt.SequenceNumber]++
			if v.seen[pkt.SequenceNumber] == 1 {
				v.firstBytes += len(pkt.Payload)
				v.last = pkt.SequenceNumber
			} else {
				v.resentBytes += len(pkt.Payload)
			}
			v.ssrc = pkt.SSRC
			v.mu.Unlock()
		}
	})
	return v
}

// nack sends a NACK for seqs (in ascending order).
func (v *seqViewer) nack(t *testing.T, seqs []uint16) {
	t.Helper()
	v.mu.Lock()
	ssrc := v.ssrc
	v.mu.Unlock()
	if err := v.pc.WriteRTCP([]rtcp.Packet{&rtcp.TransportLayerNack{MediaSSRC: ssrc, Nacks: rtcp.NackPairsFromSequenceNumbers(seqs)}}); err != nil {
		t.Fatal(err)
	}
}

// connectVideoViewer plays url with a video-only WHEP viewer of settings
// se and waits for it to connect; it is closed when the test ends.
func connectVideoViewer(t *testing.T, se pion.SettingEngine, url string) *pion.PeerConnection {
	t.Helper()
	pc, err := clientAPIWith(t, se).NewPeerConnection(pion.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.GracefulClose() })
	if _, err := pc.AddTransceiverFromKind(pion.RTPCodecTypeVideo, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	playWHEP(t, url, pc)
	waitConnected(t, pc)
	return pc
}

// playWHEP posts pc's gathered offer to url, requires 201 Created and
// applies the answer; it returns the response.
func playWHEP(t *testing.T, url string, pc *pion.PeerConnection) *http.Response {
	t.Helper()
	resp, answer := postSDP(t, url, gatheredOffer(t, pc))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST = %d %s", resp.StatusCode, answer)
	}
	if err := pc.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	return resp
}
