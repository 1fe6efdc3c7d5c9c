package webrtc

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/colony-live/colony/core/codec"
	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/ports"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	pion "github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media/samplebuilder"
)

// viewerClient is a pion WHEP viewer that reassembles the video (H.264 in
// Annex-B, or VP8) it receives.
type viewerClient struct {
	pc *pion.PeerConnection

	mu      sync.Mutex
	codec   string
	samples [][]byte // Annex-B access units
	stamps  []uint32 // their RTP timestamps
}

func newViewerClient(t *testing.T) *viewerClient {
	t.Helper()
	v := &viewerClient{pc: newClientPC(t)}
	for _, kind := range []pion.RTPCodecType{pion.RTPCodecTypeVideo, pion.RTPCodecTypeAudio} {
		if _, err := v.pc.AddTransceiverFromKind(kind, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	v.pc.OnTrack(func(tr *pion.TrackRemote, _ *pion.RTPReceiver) {
		if tr.Kind() != pion.RTPCodecTypeVideo {
			return
		}
		v.mu.Lock()
		v.codec = tr.Codec().MimeType
		v.mu.Unlock()
		var depack rtp.Depacketizer = &codecs.H264Packet{}
		if strings.EqualFold(tr.Codec().MimeType, pion.MimeTypeVP8) {
			depack = &codecs.VP8Packet{}
		}
		sb := samplebuilder.New(256, depack, 90000)
		for {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			sb.Push(pkt)
			for s := sb.Pop(); s != nil; s = sb.Pop() {
				v.mu.Lock()
				v.samples = append(v.samples, s.Data)
				v.stamps = append(v.stamps, s.PacketTimestamp)
				v.mu.Unlock()
			}
		}
	})
	return v
}

func (v *viewerClient) received() ([][]byte, []uint32, string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([][]byte(nil), v.samples...), append([]uint32(nil), v.stamps...), v.codec
}

// nalTypes lists the NAL unit types of an Annex-B access unit.
func nalTypes(au []byte) []int {
	var types []int
	for _, part := range bytes.Split(au, []byte{0, 0, 1}) {
		if len(part) > 0 && !(len(part) == 1 && part[0] == 0) {
			types = append(types, codec.NALUType(part))
		}
	}
	return types
}

func TestWHEPPlaysH264(t *testing.T) {
	fx := loadH264Fixture(t, 3)
	tracks := []media.Track{
		{Codec: media.H264, ClockRate: 90000, SPS: fx.sps, PPS: fx.pps, Width: 320, Height: 240},
		{Codec: media.AAC, ClockRate: 44100, SampleRate: 44100, Channels: 2}, // cannot be sent: video only
	}
	st := media.NewStream(tracks, media.StreamConfig{})
	defer st.Close()
	// One GOP (one second) is cached before the viewer comes.
	const gop = 30
	for i := range gop {
		st.Write(fx.unit(i))
		st.Write(&media.Unit{Track: 1, PTS: fx.unit(i).PTS, Key: true, Data: []byte{0x21, 0x10}})
	}

	var gotReq ports.PlayRequest
	play := fakePlayback{play: func(_ context.Context, req ports.PlayRequest) (*media.Stream, error) {
		gotReq = req
		if req.Key != testKey {
			return nil, ports.ErrStreamNotFound
		}
		return st, nil
	}}
	s, hs := newTestServer(t, Config{}, fakeIngest{publish: noPublish}, play)

	v := newViewerClient(t)
	resp, answer := postSDP(t, hs.URL+"/LiveApp/whep/cam1?token=abc", gatheredOffer(t, v.pc))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST = %d %s", resp.StatusCode, answer)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/sdp" {
		t.Fatalf("Content-Type %q", ct)
	}
	if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, "/LiveApp/whep/cam1/") {
		t.Fatalf("Location %q", loc)
	}
	if resp.Header.Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "Location") {
		t.Fatalf("CORS headers missing: %v", resp.Header)
	}
	if gotReq.Protocol != "webrtc" || gotReq.Query.Get("token") != "abc" || gotReq.RemoteAddr == "" {
		t.Fatalf("play request %+v", gotReq)
	}
	if !strings.Contains(answer, "a=candidate:") {
		t.Fatal("answer without candidates (WHEP is not trickle)")
	}
	if err := v.pc.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	waitConnected(t, v.pc)
	if n := s.Viewers(testKey); n != 1 {
		t.Fatalf("Viewers = %d, want 1", n)
	}
	// The server subscribes once connected; then the stream goes on live.
	waitFor(t, "the viewer's reader", 5*time.Second, func() bool { return st.Readers() == 1 })
	total := len(fx.aus)
	for i := gop; i < total; i++ {
		st.Write(fx.unit(i))
		time.Sleep(2 * time.Millisecond)
	}
	waitFor(t, "the frames", 10*time.Second, func() bool {
		samples, _, _ := v.received()
		return len(samples) >= total-1 // the sample builder keeps the last one
	})
	samples, stamps, mime := v.received()
	if !strings.EqualFold(mime, pion.MimeTypeH264) {
		t.Fatalf("video codec %q, want H.264 although the viewer lists VP8 first", mime)
	}
	first := nalTypes(samples[0])
	if !containsInt(first, codec.NALUIDR) || !containsInt(first, codec.NALUSPS) || !containsInt(first, codec.NALUPPS) {
		t.Fatalf("first frame has NAL types %v, want SPS, PPS and IDR", first)
	}
	// The cached GOP comes compressed: one tick apart, then real spacing.
	for i := 1; i < gop; i++ {
		if d := stamps[i] - stamps[i-1]; d != 1 {
			t.Fatalf("backlog frame %d is %d ticks after the previous one, want 1", i, d)
		}
	}
	if d := stamps[gop] - stamps[gop-1]; d < 2999 || d > 3000 {
		t.Fatalf("first live frame is %d ticks after the last cached one, want 3000 (1/30 s)", d)
	}
	if n := decodeFrames(t, bytes.Join(samples, nil)); n < 30 {
		t.Fatalf("ffmpeg decoded %d frames, want at least 30", n)
	}
}

func containsInt(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}
