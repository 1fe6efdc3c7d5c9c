package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2"
	hlscodecs "github.com/bluenviron/gohlslib/v2/pkg/codecs"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/coder/websocket"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
)

// fakeTarget is an in-process streaming server for the harness's own
// tests: the clip, stamped by the harness's pacer, is served as HLS (a
// gohlslib muxer at /hls/index.m3u8), over WHEP (/whep) and over Ant Media
// WebSocket signalling (/ws), with pion as the WebRTC sender.
type fakeTarget struct {
	url   string
	track *webrtc.TrackLocalStaticSample
	audio *webrtc.TrackLocalStaticSample
	api   *webrtc.API
	drops *dropperFactory

	sessions atomic.Int64
	mu       sync.Mutex
	pcs      map[string]*webrtc.PeerConnection
	wg       sync.WaitGroup
}

// newFakeTarget starts a fake server; its WebRTC sender drops the first
// transmission of every dropEvery-th video packet (0: none), for NACK to
// repair.
func newFakeTarget(t *testing.T, variant gohlslib.MuxerVariant, dropEvery int) *fakeTarget {
	t.Helper()
	c := testClip(t)
	var conf mpeg4audio.AudioSpecificConfig
	if err := conf.Unmarshal(c.audioConfig); err != nil {
		t.Fatal(err)
	}
	video := &gohlslib.Track{Codec: &hlscodecs.H264{SPS: c.sps, PPS: c.pps}, ClockRate: 90000}
	audio := &gohlslib.Track{Codec: &hlscodecs.MPEG4Audio{Config: conf}, ClockRate: conf.SampleRate}
	mux := &gohlslib.Muxer{Tracks: []*gohlslib.Track{video, audio}, Variant: variant, SegmentCount: 7,
		SegmentMinDuration: time.Second, PartMinDuration: 200 * time.Millisecond}
	if err := mux.Start(); err != nil {
		t.Fatal(err)
	}
	track, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264,
		ClockRate: 90000, SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"},
		"video", "bench")
	if err != nil {
		t.Fatal(err)
	}
	// Audio as a WebRTC server bridges it: Opus, here one packet per AAC
	// frame of the clip holding an Opus silence frame.
	opusTrack, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus,
		ClockRate: 48000, Channels: 2}, "audio", "bench")
	if err != nil {
		t.Fatal(err)
	}
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	ir := &interceptor.Registry{}
	drops := &dropperFactory{every: dropEvery}
	if dropEvery <= 0 {
		drops.every = 1 << 30
	}
	ir.Add(drops) // first: closest to the network, after the NACK responder's buffer
	if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
		t.Fatal(err)
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	f := &fakeTarget{track: track, audio: opusTrack, drops: drops, pcs: map[string]*webrtc.PeerConnection{},
		api: webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))}

	mx := http.NewServeMux()
	mx.Handle("/hls/", http.StripPrefix("/hls", http.HandlerFunc(mux.Handle)))
	mx.HandleFunc("POST /whep", f.whepPost)
	mx.HandleFunc("DELETE /whep/{id}", f.whepDelete)
	mx.HandleFunc("/ws", f.ws)
	mx.HandleFunc("GET /metrics", f.metrics)
	hs := httptest.NewServer(mx)
	f.url = hs.URL

	ctx, cancel := context.WithCancel(context.Background())
	var feed sync.WaitGroup
	feed.Go(func() {
		sink := &fakeSink{c: c, mux: mux, video: video, audio: audio, track: track, opus: opusTrack, start: time.Now()}
		if err := pace(ctx, c, sink, &pacerStats{}); err != nil {
			t.Errorf("pace: %v", err)
		}
	})
	t.Cleanup(func() {
		cancel()
		feed.Wait()
		mux.Close()
		hs.CloseClientConnections()
		hs.Close()
		f.mu.Lock()
		for _, pc := range f.pcs {
			_ = pc.Close()
		}
		f.mu.Unlock()
		f.wg.Wait()
	})
	return f
}

// fakeSink feeds the muxer and the WebRTC track.
type fakeSink struct {
	c            *clip
	mux          *gohlslib.Muxer
	video, audio *gohlslib.Track
	track, opus  *webrtc.TrackLocalStaticSample
	start        time.Time
}

func (s *fakeSink) writeVideo(ts, cts time.Duration, key bool, au []byte) error {
	var nalus [][]byte
	if key {
		nalus = append(nalus, s.c.sps, s.c.pps)
	}
	for b := au; len(b) >= 4; {
		n := binary.BigEndian.Uint32(b)
		nalus = append(nalus, b[4:4+n])
		b = b[4+n:]
	}
	pts := int64((ts + cts) * 90000 / time.Second)
	if err := s.mux.WriteH264(s.video, s.start.Add(ts), pts, nalus); err != nil {
		return err
	}
	var annexB []byte
	for _, n := range nalus {
		annexB = append(append(annexB, 0, 0, 0, 1), n...)
	}
	return s.track.WriteSample(media.Sample{Data: annexB, Duration: time.Second / 30})
}

func (s *fakeSink) writeAudio(ts time.Duration, frame []byte) error {
	if err := s.mux.WriteMPEG4Audio(s.audio, s.start.Add(ts), int64(ts*48000/time.Second), [][]byte{frame}); err != nil {
		return err
	}
	return s.opus.WriteSample(media.Sample{Data: []byte{0xf8, 0xff, 0xfe}, Duration: 20 * time.Millisecond})
}

// newPC returns a sending PeerConnection registered under id.
func (f *fakeTarget) newPC(id string) (*webrtc.PeerConnection, error) {
	pc, err := f.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	for _, tr := range []*webrtc.TrackLocalStaticSample{f.track, f.audio} {
		sender, err := pc.AddTrack(tr)
		if err != nil {
			_ = pc.Close()
			return nil, err
		}
		f.wg.Go(func() { // read RTCP (NACK, PLI, reports) as a server must
			buf := make([]byte, 1500)
			for {
				if _, _, err := sender.Read(buf); err != nil {
					return
				}
			}
		})
	}
	f.mu.Lock()
	f.pcs[id] = pc
	f.mu.Unlock()
	return pc, nil
}

func (f *fakeTarget) whepPost(w http.ResponseWriter, r *http.Request) {
	offer, err := io.ReadAll(r.Body)
	if err != nil || r.Header.Get("Content-Type") != "application/sdp" {
		http.Error(w, "want an SDP offer", http.StatusBadRequest)
		return
	}
	id := fmt.Sprint(f.sessions.Add(1))
	pc, err := f.newPC(id)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: string(offer)}); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	<-gathered
	w.Header().Set("Content-Type", "application/sdp")
	w.Header().Set("Location", "whep/"+id) // relative, as the spec allows
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, pc.LocalDescription().SDP)
}

// metrics serves a Prometheus page with the WHEP sessions whose
// connection is neither closed nor failed.
func (f *fakeTarget) metrics(w http.ResponseWriter, _ *http.Request) {
	f.mu.Lock()
	n := 0
	for id, pc := range f.pcs {
		if s := pc.ConnectionState(); !strings.HasPrefix(id, "ws-") && s != webrtc.PeerConnectionStateClosed && s != webrtc.PeerConnectionStateFailed {
			n++
		}
	}
	f.mu.Unlock()
	fmt.Fprintf(w, "# HELP fake_whep_sessions WHEP sessions open.\n# TYPE fake_whep_sessions gauge\nfake_whep_sessions %d\n", n)
}

// closeAll closes every PeerConnection, as a server shedding its viewers.
func (f *fakeTarget) closeAll() {
	f.mu.Lock()
	pcs := f.pcs
	f.pcs = map[string]*webrtc.PeerConnection{}
	f.mu.Unlock()
	for _, pc := range pcs {
		_ = pc.Close()
	}
}

func (f *fakeTarget) whepDelete(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	pc := f.pcs[r.PathValue("id")]
	delete(f.pcs, r.PathValue("id"))
	f.mu.Unlock()
	if pc == nil {
		http.NotFound(w, r)
		return
	}
	_ = pc.Close()
}

// ws speaks the server side of Ant Media's play signalling.
func (f *fakeTarget) ws(w http.ResponseWriter, r *http.Request) {
	conn, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer conn.CloseNow()
	ctx := r.Context()
	var wmu sync.Mutex
	send := func(m wsMessage) {
		b, _ := json.Marshal(m)
		wmu.Lock()
		defer wmu.Unlock()
		_ = conn.Write(ctx, websocket.MessageText, b)
	}
	var pc *webrtc.PeerConnection
	for {
		_, b, err := conn.Read(ctx)
		if err != nil {
			return
		}
		var m wsMessage
		if err := json.Unmarshal(b, &m); err != nil {
			return
		}
		switch m.Command {
		case "play":
			if m.StreamID != "stream1" {
				send(wsMessage{Command: "error", Definition: "no_stream_exist"})
				continue
			}
			if pc, err = f.newPC("ws-" + r.RemoteAddr); err != nil {
				return
			}
			pc.OnICECandidate(func(c *webrtc.ICECandidate) {
				if c == nil {
					return
				}
				in := c.ToJSON()
				label := int(*in.SDPMLineIndex)
				send(wsMessage{Command: "takeCandidate", StreamID: m.StreamID, Label: &label,
					ID: *in.SDPMid, Candidate: in.Candidate})
			})
			offer, err := pc.CreateOffer(nil)
			if err != nil {
				return
			}
			if err := pc.SetLocalDescription(offer); err != nil {
				return
			}
			send(wsMessage{Command: "takeConfiguration", StreamID: m.StreamID, Type: "offer", SDP: offer.SDP})
		case "takeConfiguration":
			if pc == nil || m.Type != "answer" {
				return
			}
			if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: m.SDP}); err != nil {
				send(wsMessage{Command: "error", Definition: err.Error()})
			}
		case "takeCandidate":
			if pc == nil {
				return
			}
			in := webrtc.ICECandidateInit{Candidate: m.Candidate, SDPMid: &m.ID}
			if err := pc.AddICECandidate(in); err != nil && !errors.Is(err, context.Canceled) {
				send(wsMessage{Command: "error", Definition: "bad candidate: " + err.Error()})
			}
		case "ping":
			send(wsMessage{Command: "pong"})
		case "stop":
			return
		default:
			if strings.TrimSpace(m.Command) == "" {
				return
			}
		}
	}
}

// dropperFactory makes interceptors that drop the first transmission of
// every n-th H.264 packet.
type dropperFactory struct {
	every   int
	dropped atomic.Int64
}

func (f *dropperFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &dropper{every: f.every, dropped: &f.dropped}, nil
}

type dropper struct {
	interceptor.NoOp
	every   int
	dropped *atomic.Int64

	mu   sync.Mutex
	n    int
	sent map[uint16]bool
}

func (d *dropper) BindLocalStream(info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	if info.MimeType != webrtc.MimeTypeH264 {
		return w
	}
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		d.mu.Lock()
		if d.sent == nil {
			d.sent = map[uint16]bool{}
		}
		first := !d.sent[h.SequenceNumber]
		d.sent[h.SequenceNumber] = true
		d.n++
		drop := first && d.n%d.every == 0
		d.mu.Unlock()
		if drop {
			d.dropped.Add(1)
			return len(payload), nil
		}
		return w.Write(h, payload, a)
	})
}
