package webrtc

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/colony-live/colony/core/codec"
	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
	"github.com/pion/rtp/codecs"
	pion "github.com/pion/webrtc/v4"
)

// switchPlayer is a player reduced to its video output, writing to rec.
func switchPlayer(rec rtpWriter) *player {
	p := &peer{log: slog.New(slog.DiscardHandler)}
	p.ctx, p.cancel = context.WithCancelCause(context.Background())
	return &player{peer: p, anchored: make(chan struct{}),
		video: &outTrack{clock: 90000, base: 1000, out: rtpOut{w: rec, video: true, seq: 65000}}}
}

// depacketize splits recorded RTP packets into access units (Annex-B) at
// the marker bit, checking that sequence numbers run on without a gap.
func depacketize(t *testing.T, pkts []rtpPacketView) (aus [][]byte, stamps []uint32) {
	t.Helper()
	d := &codecs.H264Packet{}
	var cur []byte
	for i, p := range pkts {
		if i > 0 && p.seq != pkts[i-1].seq+1 {
			t.Fatalf("packet %d: sequence number %d after %d", i, p.seq, pkts[i-1].seq)
		}
		b, err := d.Unmarshal(p.payload)
		if err != nil {
			t.Fatal(err)
		}
		cur = append(cur, b...)
		if p.marker {
			aus, stamps = append(aus, cur), append(stamps, p.ts)
			cur = nil
		}
	}
	return aus, stamps
}

type rtpPacketView struct {
	seq     uint16
	ts      uint32
	marker  bool
	payload []byte
}

func views(rec *recordRTP) []rtpPacketView {
	var v []rtpPacketView
	for _, p := range rec.pkts {
		v = append(v, rtpPacketView{seq: p.SequenceNumber, ts: p.Timestamp, marker: p.Marker, payload: p.Payload})
	}
	return v
}

func TestSwitchAtKeyframeKeepsTimeline(t *testing.T) {
	hi := loadH264Fixture(t, 3)
	lo := loadH264FixtureSized(t, 3, "160x120")
	rec := &recordRTP{}
	pl := switchPlayer(rec)
	base := &videoSource{track: 0, frames: newFrameCache(media.Track{Codec: media.H264, SPS: hi.sps, PPS: hi.pps})}
	rend := &videoSource{height: 120, track: 0, frames: newFrameCache(media.Track{Codec: media.H264, SPS: lo.sps, PPS: lo.pps})}
	pl.base, pl.vs.active = base, base
	var switchedTo []int
	pl.vs.onSwitch = func(h int) { switchedTo = append(switchedTo, h) }
	ts := func(u *media.Unit) uint32 { return pl.video.base + rtpTicks(u.PTS, 90000) }

	// The rendition runs 3 frames behind its source (transcoding), and
	// the switch is asked for in the middle of the second GOP: the source
	// is held from its next keyframe (60) until the rendition's keyframe
	// 60 arrives, which then goes out with the same timestamp.
	const lag, ask, total = 3, 35, 90
	now := time.Unix(0, 0)
	for i := 0; i < total+lag; i++ {
		now = now.Add(fixtureFrameDur)
		if i == ask {
			pl.vs.mu.Lock()
			pl.vs.pending = rend
			pl.vs.mu.Unlock()
		}
		if i < total {
			keep := pl.offerVideo(base, hi.unit(i), ts(hi.unit(i)), now)
			if wantKeep := i <= 63; keep != wantKeep { // unwanted once the rendition took over at step 63
				t.Fatalf("source frame %d: still wanted %v, want %v", i, keep, wantKeep)
			}
		}
		if j := i - lag; i >= ask && j >= 0 {
			if !pl.offerVideo(rend, lo.unit(j), ts(lo.unit(j)), now) {
				t.Fatalf("rendition frame %d: not wanted while pending", j)
			}
		}
	}
	if len(switchedTo) != 1 || switchedTo[0] != 120 {
		t.Fatalf("switch notifications %v, want [120]", switchedTo)
	}
	aus, stamps := depacketize(t, views(rec))
	if len(aus) != total {
		t.Fatalf("%d frames sent, want %d (each PTS once)", len(aus), total)
	}
	for i := range aus {
		if want := ts(hi.unit(i)); stamps[i] != want {
			t.Fatalf("frame %d stamped %d, want %d (the shared timeline)", i, stamps[i], want)
		}
	}
	sw := aus[60]
	types := nalTypes(sw)
	if len(types) < 3 || types[0] != codec.NALUSPS || types[1] != codec.NALUPPS || !containsInt(types, codec.NALUIDR) {
		t.Fatalf("switch frame NAL types %v, want SPS, PPS, then the IDR", types)
	}
	if !bytes.Contains(sw, lo.sps) || bytes.Contains(aus[59], lo.sps) {
		t.Fatal("the rendition's SPS is not at the switch frame")
	}
	if !bytes.Equal(aus[61], annexBOf(lo.aus[61])) {
		t.Fatal("frame 61 is not the rendition's")
	}
	if n := decodeFrames(t, bytes.Join(aus, nil)); n != total {
		t.Fatalf("ffmpeg decoded %d frames across the switch, want %d", n, total)
	}
}

// annexBOf is an access unit in Annex-B without its delimiter, as sent.
func annexBOf(nalus [][]byte) []byte {
	var b []byte
	for _, n := range nalus {
		if codec.NALUType(n) != codec.NALUAUD {
			b = append(append(b, 0, 0, 0, 1), n...)
		}
	}
	return b
}

// synthUnit is a frame with a fake IDR or non-IDR slice.
func synthUnit(i, gop int) *media.Unit {
	nal := []byte{0x41, byte(i)}
	if i%gop == 0 {
		nal = []byte{0x65, byte(i)}
	}
	pts := time.Duration(i) * fixtureFrameDur
	return &media.Unit{PTS: pts, DTS: pts, Key: i%gop == 0, Data: codec.JoinAVCC([][]byte{nal})}
}

func TestSwitchGivesUpWithoutKeyframe(t *testing.T) {
	rec := &recordRTP{}
	pl := switchPlayer(rec)
	base := &videoSource{track: 0, frames: newFrameCache(media.Track{Codec: media.H264})}
	rend := &videoSource{height: 120, track: 0, frames: newFrameCache(media.Track{Codec: media.H264})}
	pl.base, pl.vs.active = base, base
	const gop = 30
	now := time.Unix(0, 0)
	sent := func() int { return len(rec.pkts) }
	for i := 0; i < 10*gop; i++ {
		now = now.Add(fixtureFrameDur)
		if i == 10 {
			pl.vs.pending = rend
		}
		before := sent()
		pl.offerVideo(base, synthUnit(i, gop), uint32(i), now)
		// Held from keyframe 30 for switchTimeout (5 s = 150 frames): the
		// first keyframe after it, 210, goes out and ends the switch.
		wantSent := i < 30 || i >= 210
		if got := sent() > before; got != wantSent {
			t.Fatalf("frame %d sent %v, want %v", i, got, wantSent)
		}
		if i == 200 && !pl.offerVideo(rend, synthUnit(i, gop), uint32(i), now) {
			t.Fatal("the rendition is no longer pending while held")
		}
	}
	if pl.vs.pending != nil || pl.vs.active != base {
		t.Fatal("the switch was not given up")
	}
	if pl.offerVideo(rend, synthUnit(240, gop), 240, now) {
		t.Fatal("a given-up rendition is still wanted")
	}
}

func TestSwitchBackBeforeTakeover(t *testing.T) {
	rec := &recordRTP{}
	pl := switchPlayer(rec)
	base := &videoSource{track: 0, frames: newFrameCache(media.Track{Codec: media.H264})}
	pl.base, pl.vs.active = base, base
	const gop = 30
	now := time.Unix(0, 0)
	for i := 0; i < 90; i++ {
		now = now.Add(fixtureFrameDur)
		if i == 10 {
			pl.vs.pending = &videoSource{height: 120, frames: newFrameCache(media.Track{Codec: media.H264})}
		}
		if i == 40 { // back to the original while held
			if err := pl.switchTo(context.Background(), 0); err != nil {
				t.Fatal(err)
			}
		}
		before := len(rec.pkts)
		pl.offerVideo(base, synthUnit(i, gop), uint32(i), now)
		wantSent := i < 30 || i >= 60 // resumes at the next keyframe
		if got := len(rec.pkts) > before; got != wantSent {
			t.Fatalf("frame %d sent %v, want %v", i, got, wantSent)
		}
	}
}

// renditionsOf is a Renditions listing fixed keys.
type renditionsOf []stream.Key

func (r renditionsOf) RenditionKeys(context.Context, stream.Key) ([]stream.Key, error) { return r, nil }

// feedLadder writes the source and its rendition (lag frames behind) in
// real time, in a loop, until ctx ends.
func feedLadder(ctx context.Context, hi, lo h264Fixture, src, rend *media.Stream, lag int) {
	n := min(len(hi.aus), len(lo.aus))
	loop := time.Duration(n) * fixtureFrameDur
	tick := time.NewTicker(fixtureFrameDur / 3) // 3x real time
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		off := time.Duration(i/n) * loop
		u := hi.unit(i % n)
		u.PTS, u.DTS = u.PTS+off, u.DTS+off
		src.Write(u)
		if j := i - lag; j >= 0 {
			off := time.Duration(j/n) * loop
			r := lo.unit(j % n)
			r.PTS, r.DTS = r.PTS+off, r.DTS+off
			rend.Write(r)
		}
	}
}

// newLadder loads the source (320x240) and rendition (160x120) clips of
// the ladder tests.
func newLadder(t *testing.T) (hi, lo h264Fixture) {
	t.Helper()
	return loadH264Fixture(t, 2), loadH264FixtureSized(t, 2, "160x120")
}

// ladderPlayback serves testKey (hi) and its rendition cam1_120p (lo),
// both fed by feedLadder until the test ends; renditionCheck, if set, may
// refuse a request for the rendition.
func ladderPlayback(t *testing.T, hi, lo h264Fixture, renditionCheck func(ports.PlayRequest) error) fakePlayback {
	t.Helper()
	src := media.NewStream([]media.Track{{Codec: media.H264, ClockRate: 90000, SPS: hi.sps, PPS: hi.pps, Width: 320, Height: 240}}, media.StreamConfig{})
	rend := media.NewStream([]media.Track{{Codec: media.H264, ClockRate: 90000, SPS: lo.sps, PPS: lo.pps, Width: 160, Height: 120}}, media.StreamConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	feedDone := make(chan struct{})
	go func() {
		defer close(feedDone)
		feedLadder(ctx, hi, lo, src, rend, 3)
	}()
	t.Cleanup(func() {
		cancel()
		<-feedDone
		src.Close()
		rend.Close()
	})
	return fakePlayback{play: func(_ context.Context, req ports.PlayRequest) (*media.Stream, error) {
		switch req.Key.ID {
		case testKey.ID:
			return src, nil
		case "cam1_120p":
			if renditionCheck != nil {
				if err := renditionCheck(req); err != nil {
					return nil, err
				}
			}
			return rend, nil
		}
		return nil, ports.ErrStreamNotFound
	}}
}

func TestForceStreamQualitySwitchesRendition(t *testing.T) {
	hi, lo := newLadder(t)
	rendKey := stream.Key{App: testKey.App, ID: "cam1_120p"}
	_, hs := newTestServer(t, Config{Renditions: renditionsOf{rendKey}}, fakeIngest{publish: noPublish}, ladderPlayback(t, hi, lo, nil))

	w := dialWS(t, hs, "LiveApp")
	w.send(wsMsg{"command": "getStreamInfo", "streamId": "cam1"})
	info := w.await("streamInformation", "")
	if rs, _ := info["streamInfo"].([]any); len(rs) != 2 || rs[1].(map[string]any)["streamHeight"] != 120.0 {
		t.Fatalf("stream information %v, want the source and its 120p rendition", info)
	}
	v := newViewerClient(t)
	w.attach(v.pc, "cam1")
	w.send(wsMsg{"command": "play", "streamId": "cam1"})
	off := w.await("takeConfiguration", "")
	if err := v.pc.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeOffer, SDP: off.str("sdp")}); err != nil {
		t.Fatal(err)
	}
	answer, err := v.pc.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.pc.SetLocalDescription(answer); err != nil {
		t.Fatal(err)
	}
	w.remoteSet()
	w.send(wsMsg{"command": "takeConfiguration", "streamId": "cam1", "type": "answer", "sdp": answer.SDP})
	w.await("notification", defPlayStarted)

	// A height with no rendition is refused.
	w.send(wsMsg{"command": "forceStreamQuality", "streamId": "cam1", "streamHeight": 480})
	if m := w.await("error", ""); m.str("definition") != defNoSuchQuality {
		t.Fatalf("forcing 480p: %v", m)
	}
	w.send(wsMsg{"command": "forceStreamQuality", "streamId": "cam1", "streamHeight": 120})
	if m := w.await("notification", defResolutionChangeInfo); m["streamHeight"] != 120.0 {
		t.Fatalf("resolution change %v", m)
	}
	waitFor(t, "rendition frames", 10*time.Second, func() bool {
		samples, _, _ := v.received()
		i := indexSPS(samples, lo.sps)
		return i >= 0 && len(samples) > i+20
	})
	w.send(wsMsg{"command": "forceStreamQuality", "streamId": "cam1", "streamHeight": 240})
	if m := w.await("notification", defResolutionChangeInfo); m["streamHeight"] != 240.0 {
		t.Fatalf("resolution change back %v", m)
	}
	waitFor(t, "source frames again", 10*time.Second, func() bool {
		samples, _, _ := v.received()
		i := indexSPS(samples, lo.sps)
		return i >= 0 && lastIndexSPS(samples, hi.sps) > i && len(samples) > lastIndexSPS(samples, hi.sps)+5
	})
	samples, stamps, _ := v.received()
	for i := 1; i < len(samples); i++ {
		if d := int32(stamps[i] - stamps[i-1]); d <= 0 || d > 90000 {
			t.Fatalf("frame %d is %d ticks after the previous one: the timeline broke", i, d)
		}
	}
	if n := decodeFrames(t, bytes.Join(samples, nil)); n < len(samples)-1 {
		t.Fatalf("ffmpeg decoded %d of %d frames across two switches", n, len(samples))
	}
}

func indexSPS(samples [][]byte, sps []byte) int {
	for i, s := range samples {
		if bytes.Contains(s, sps) {
			return i
		}
	}
	return -1
}

func lastIndexSPS(samples [][]byte, sps []byte) int {
	for i := len(samples) - 1; i >= 0; i-- {
		if bytes.Contains(samples[i], sps) {
			return i
		}
	}
	return -1
}

func countSPS(samples [][]byte, sps []byte) int {
	n := 0
	for _, s := range samples {
		if bytes.Contains(s, sps) {
			n++
		}
	}
	return n
}

func TestWHEPQualityPinsRendition(t *testing.T) {
	hi, lo := newLadder(t)
	// The rendition needs the viewer's token: the pin passes the query on.
	needToken := func(req ports.PlayRequest) error {
		if req.Query.Get("token") != "tk" {
			return ports.ErrUnauthorized
		}
		return nil
	}
	_, hs := newTestServer(t, Config{}, fakeIngest{publish: noPublish}, ladderPlayback(t, hi, lo, needToken))

	for _, tt := range []struct{ query, status string }{{"?quality=480&token=tk", "404"}, {"?quality=big", "400"}} {
		bad := newClientPC(t)
		if _, err := bad.AddTransceiverFromKind(pion.RTPCodecTypeVideo, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
		resp, body := postSDP(t, hs.URL+"/LiveApp/whep/cam1"+tt.query, gatheredOffer(t, bad))
		if got := resp.Status; !strings.HasPrefix(got, tt.status) {
			t.Fatalf("WHEP %s = %s %s, want %s", tt.query, got, body, tt.status)
		}
	}

	v := newViewerClient(t)
	resp, answer := postSDP(t, hs.URL+"/LiveApp/whep/cam1?quality=120&token=tk", gatheredOffer(t, v.pc))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST = %d %s", resp.StatusCode, answer)
	}
	if err := v.pc.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "frames", 10*time.Second, func() bool {
		samples, _, _ := v.received()
		return len(samples) >= 30
	})
	samples, _, _ := v.received()
	if !bytes.Contains(samples[0], lo.sps) || countSPS(samples, hi.sps) != 0 {
		t.Fatal("a viewer pinned to 120p got the source's video")
	}
	if n := decodeFrames(t, bytes.Join(samples, nil)); n < len(samples)-1 {
		t.Fatalf("decoded %d of %d frames", n, len(samples))
	}
}

func TestAutomaticChoiceStepsDownOnLoss(t *testing.T) {
	hi, lo := newLadder(t)
	rendKey := stream.Key{App: testKey.App, ID: "cam1_120p"}
	s, hs := newTestServer(t, Config{Renditions: renditionsOf{rendKey}}, fakeIngest{publish: noPublish}, ladderPlayback(t, hi, lo, nil))

	v := newViewerClient(t)
	resp, answer := postSDP(t, hs.URL+"/LiveApp/whep/cam1", gatheredOffer(t, v.pc))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST = %d %s", resp.StatusCode, answer)
	}
	if err := v.pc.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "source frames", 10*time.Second, func() bool {
		samples, _, _ := v.received()
		return len(samples) > 10
	})
	var pl *player
	s.mu.Lock()
	for _, p := range s.sessions {
		pl = p.play
	}
	s.mu.Unlock()
	if pl == nil {
		t.Fatal("no player session")
	}
	// Reports of 30% loss for 3 s (as the RTCP reader would hand them).
	now := time.Now()
	for i := range 4 {
		pl.obs <- abrObs{At: now.Add(time.Duration(i) * time.Second), Loss: 0.3}
	}
	waitFor(t, "the step down to 120p", 10*time.Second, func() bool {
		samples, _, _ := v.received()
		i := indexSPS(samples, lo.sps)
		return i >= 0 && len(samples) > i+5
	})
	if h := pl.videoHeight(); h != 120 {
		t.Fatalf("video height %d, want 120", h)
	}
}
