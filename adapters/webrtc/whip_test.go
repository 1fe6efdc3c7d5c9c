package webrtc

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/colony-live/colony/core/codec"
	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
	"github.com/pion/rtcp"
	pion "github.com/pion/webrtc/v4"
	pmedia "github.com/pion/webrtc/v4/pkg/media"
	"github.com/pion/webrtc/v4/pkg/media/h264reader"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"
)

// publisherClient is a pion WHIP publisher of an H.264 file and an Ogg/Opus file.
type publisherClient struct {
	pc           *pion.PeerConnection
	video, audio *pion.TrackLocalStaticSample
	plis         atomic.Int32 // keyframe requests received
	rrs          atomic.Int32 // receiver reports received
}

// newPublisherClient publishes video of videoMime (H.264 or VP8) and, with
// withAudio, an Opus track.
func newPublisherClient(t *testing.T, videoMime string, withAudio bool) *publisherClient {
	t.Helper()
	c := &publisherClient{pc: newClientPC(t)}
	vcap := pion.RTPCodecCapability{MimeType: videoMime, ClockRate: 90000}
	if videoMime == pion.MimeTypeH264 {
		vcap.SDPFmtpLine = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"
	}
	var err error
	c.video, err = pion.NewTrackLocalStaticSample(vcap, "video", "pub")
	if err != nil {
		t.Fatal(err)
	}
	tracks := []pion.TrackLocal{c.video}
	if withAudio {
		c.audio, err = pion.NewTrackLocalStaticSample(pion.RTPCodecCapability{MimeType: pion.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "pub")
		if err != nil {
			t.Fatal(err)
		}
		tracks = append(tracks, c.audio)
	}
	for _, tr := range tracks {
		sender, err := c.pc.AddTrack(tr)
		if err != nil {
			t.Fatal(err)
		}
		go func() { // RTCP (PLI from the server) must be read
			for {
				pkts, _, err := sender.ReadRTCP()
				if err != nil {
					return
				}
				for _, p := range pkts {
					switch p.(type) {
					case *rtcp.PictureLossIndication:
						c.plis.Add(1)
					case *rtcp.ReceiverReport:
						c.rrs.Add(1)
					}
				}
			}
		}()
	}
	// The Ant Media SDK always opens a data channel: it must be accepted.
	if _, err := c.pc.CreateDataChannel("cam1", nil); err != nil {
		t.Fatal(err)
	}
	return c
}

// sendFiles publishes the H.264 file access unit by access unit, with the
// Opus pages interleaved by time, faster than real time.
func (c *publisherClient) sendFiles(t *testing.T, h264Path, oggPath string) {
	t.Helper()
	hf, err := os.Open(h264Path)
	if err != nil {
		t.Fatal(err)
	}
	defer hf.Close()
	hr, err := h264reader.NewReader(hf)
	if err != nil {
		t.Fatal(err)
	}
	var ogg *oggreader.OggReader
	if oggPath != "" {
		of, err := os.Open(oggPath)
		if err != nil {
			t.Fatal(err)
		}
		defer of.Close()
		if ogg, _, err = oggreader.NewWith(of); err != nil {
			t.Fatal(err)
		}
	}
	var au []byte
	var videoTime, audioTime time.Duration
	var lastGranule uint64
	flush := func() {
		if len(au) == 0 {
			return
		}
		if err := c.video.WriteSample(pmedia.Sample{Data: au, Duration: fixtureFrameDur}); err != nil {
			t.Fatal(err)
		}
		au = nil
		videoTime += fixtureFrameDur
		for ogg != nil && audioTime < videoTime {
			page, hdr, err := ogg.ParseNextPage()
			if errors.Is(err, io.EOF) {
				ogg = nil
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if bytes.HasPrefix(page, []byte("OpusTags")) {
				continue
			}
			d := time.Duration(hdr.GranulePosition-lastGranule) * time.Second / 48000
			lastGranule = hdr.GranulePosition
			if err := c.audio.WriteSample(pmedia.Sample{Data: page, Duration: d}); err != nil {
				t.Fatal(err)
			}
			audioTime += d
		}
		time.Sleep(3 * time.Millisecond)
	}
	for {
		nal, err := hr.NextNAL()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if nal.UnitType == h264reader.NalUnitTypeAUD {
			flush()
			continue
		}
		au = append(append(au, 0, 0, 0, 1), nal.Data...)
	}
	flush()
}

func opusFixture(t *testing.T, seconds string) string {
	t.Helper()
	needFFmpeg(t)
	path := filepath.Join(t.TempDir(), "tone.ogg")
	out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", seconds, "-c:a", "libopus", "-page_duration", "20000", "-vn", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	return path
}

func TestWHIPPublishesH264AndOpus(t *testing.T) {
	fx := loadH264Fixture(t, 3)
	oggPath := opusFixture(t, "3")
	pubs := make(chan *fakePub, 1)
	ingest := fakeIngest{publish: func(_ context.Context, req ports.PublishRequest) (ports.Publication, error) {
		p := newFakePub(req)
		pubs <- p
		return p, nil
	}}
	s, hs := newTestServer(t, Config{}, ingest, fakePlayback{play: noPlay})

	c := newPublisherClient(t, pion.MimeTypeH264, true)
	req, err := http.NewRequest(http.MethodPost, hs.URL+"/LiveApp/whip/cam1", strings.NewReader(gatheredOffer(t, c.pc)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/sdp")
	req.Header.Set("Authorization", "Bearer secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	answerBytes, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	answer := string(answerBytes)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST = %d %s", resp.StatusCode, answer)
	}
	pub := <-pubs
	if pub.req.Key != testKey || pub.req.PublishType != stream.PublishWebRTC || pub.req.Query.Get("token") != "secret" {
		t.Fatalf("publish request %+v", pub.req)
	}
	// H.264 is answered first although the client lists VP8 first, and the
	// data channel is accepted.
	info, err := parseSDP(answer)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range info.media {
		switch m.kind {
		case "video":
			if len(m.codecs) == 0 || m.codecs[0].name != "h264" {
				t.Fatalf("answer's first video format is %+v, want H.264", m.codecs)
			}
		case "application":
			if m.port == 0 {
				t.Fatal("data channel rejected")
			}
		}
	}
	if err := c.pc.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	waitConnected(t, c.pc)
	c.sendFiles(t, fx.path, oggPath)

	var tracks []media.Track
	select {
	case tracks = <-pub.started:
	case <-time.After(10 * time.Second):
		t.Fatal("the stream did not start")
	}
	if len(tracks) != 2 {
		t.Fatalf("started with %d tracks, want H.264 and Opus", len(tracks))
	}
	v, a := tracks[0], tracks[1]
	if v.Codec != media.H264 || v.ClockRate != 90000 || v.Width != 320 || v.Height != 240 ||
		!bytes.Equal(v.SPS, fx.sps) || !bytes.Equal(v.PPS, fx.pps) {
		t.Fatalf("video track %+v", v)
	}
	if a.Codec != media.Opus || a.ClockRate != 48000 || a.Channels != 2 {
		t.Fatalf("audio track %+v", a)
	}
	var units []*media.Unit
	waitFor(t, "the units", 10*time.Second, func() bool {
		units = append(units, pub.units()...)
		n := 0
		for _, u := range units {
			if u.Track == 0 {
				n++
			}
		}
		return n >= len(fx.aus)-5
	})
	var video []byte
	var audioUnits, keys int
	out := newH264Out(v)
	var lastPTS time.Duration = -1
	for _, u := range units {
		if u.Track == 1 {
			audioUnits++
			continue
		}
		if len(video) == 0 && !u.Key {
			t.Fatal("the first video unit is not a keyframe")
		}
		if u.PTS <= lastPTS {
			t.Fatalf("video PTS %v after %v", u.PTS, lastPTS)
		}
		lastPTS = u.PTS
		nalus, err := codec.SplitAVCC(nil, u.Data)
		if err != nil {
			t.Fatal(err)
		}
		if u.Key != codec.ContainsIDR(nalus) {
			t.Fatalf("unit Key %v but IDR %v", u.Key, codec.ContainsIDR(nalus))
		}
		if u.Key {
			keys++
		}
		video, _, err = out.annexB(video, u.Data)
		if err != nil {
			t.Fatal(err)
		}
	}
	if keys < 2 || audioUnits < 50 {
		t.Fatalf("%d keyframes and %d audio units", keys, audioUnits)
	}
	if n := decodeFrames(t, video); n < 30 {
		t.Fatalf("ffmpeg decoded %d frames of the ingested video, want at least 30", n)
	}
	// The server sends receiver reports (remoteOnly starts them with the
	// first remote stream).
	waitFor(t, "a receiver report", 5*time.Second, func() bool { return c.rrs.Load() > 0 })

	// DELETE ends the publication normally.
	if code := deleteSession(t, hs.URL+resp.Header.Get("Location")); code != http.StatusOK {
		t.Fatalf("DELETE = %d", code)
	}
	select {
	case err := <-pub.ended:
		if err != nil {
			t.Fatalf("End(%v), want End(nil)", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("publication not ended")
	}
	_ = s
}
