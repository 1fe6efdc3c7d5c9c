package webrtc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/colony-live/colony/core/codec"
	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	pion "github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media/samplebuilder"
)

// errNoMedia: a publisher connected but sent no usable track in time.
var errNoMedia = errors.New("publisher sent no usable media")

const (
	// maxPending bounds the frames a publisher keeps before its stream starts.
	maxPending = 1024
	// minPLIGap spaces the keyframe requests sent on demand.
	minPLIGap = 300 * time.Millisecond
	// sampleMaxLate is how many packets the sample builder waits for a
	// missing one (NACK retransmissions) before dropping the frame.
	sampleMaxLate = 512
	// sampleMaxDelay bounds that wait in time.
	sampleMaxDelay = 500 * time.Millisecond
)

// frame is one access unit received from a publisher, before it has a
// track index in the stream.
type frame struct {
	video         bool
	codec         media.Codec
	pts           time.Duration // since the session started
	key           bool
	data          []byte
	sps, pps      []byte
	width, height int
	at            time.Time
}

// inTrack is what the publisher knows of one incoming track before and
// after its stream starts.
type inTrack struct {
	codec         media.Codec
	keyed         bool
	sps, pps      []byte
	width, height int
	idx           int // index in the stream's tracks, -1 if left out
}

func (t *inTrack) ready() bool {
	if t == nil {
		return false
	}
	if !t.codec.IsVideo() {
		return true
	}
	return t.keyed && (t.codec != media.H264 || (t.sps != nil && t.pps != nil))
}

// publisher receives one WebRTC publication (WHIP or WebSocket) and writes
// it to the stream it starts through ports.Publication.
type publisher struct {
	*peer
	pub ports.Publication
	t0  time.Time

	// expectVideo/expectAudio: media the answer accepts (guarded by peer.mu).
	expectVideo, expectAudio bool

	frames    chan frame
	pliReq    chan struct{}
	videoSSRC atomic.Uint32
	haveVideo atomic.Bool
	haveAudio atomic.Bool

	// Owned by the run goroutine.
	st           *media.Stream
	video, audio *inTrack
	pending      []frame
	base         time.Duration
	lastPLI      time.Time
}

// newPublisher starts a publish session for pub. On error it has ended pub.
func (s *Server) newPublisher(key stream.Key, pub ports.Publication, remoteAddr string, h hooks) (*publisher, error) {
	p, err := s.newPeer(nil, key, false, remoteAddr, h)
	if err != nil {
		pub.End(err)
		return nil, err
	}
	pb := &publisher{
		peer: p, pub: pub, t0: time.Now(),
		frames: make(chan frame, 64), pliReq: make(chan struct{}, 1),
	}
	p.pc.OnTrack(pb.onTrack)
	// Accept the data channel the Ant Media SDK opens; its messages are ignored.
	p.pc.OnDataChannel(func(*pion.DataChannel) {})
	s.setPublisher(key, pb, nil)
	go pb.run()
	return pb, nil
}

// answerOffer answers the publisher's offer, preferring H.264 and
// leaving out what the server does not serve (rewriteOffer), and notes
// which media the answer accepts.
func (pb *publisher) answerOffer(ctx context.Context, offer string, info sdpInfo, trickle bool) (string, error) {
	ans, err := pb.answer(ctx, rewriteOffer(offer, info, true), trickle)
	if err != nil {
		return "", err
	}
	ai, err := parseSDP(ans)
	if err != nil {
		return "", fmt.Errorf("own answer: %w", err)
	}
	pb.mu.Lock()
	pb.expectVideo, pb.expectAudio = ai.receives("video"), ai.receives("audio")
	pb.mu.Unlock()
	if !ai.receives("video") && !ai.receives("audio") {
		return "", fmt.Errorf("%w: the offer has no H.264, VP8 or Opus track", errBadSDP)
	}
	return ans, nil
}

func (pb *publisher) onTrack(tr *pion.TrackRemote, _ *pion.RTPReceiver) {
	video := tr.Kind() == pion.RTPCodecTypeVideo
	claim := &pb.haveAudio
	if video {
		claim = &pb.haveVideo
	}
	if !claim.CompareAndSwap(false, true) {
		pb.log.Info("ignoring an extra track", "kind", tr.Kind().String(), "codec", tr.Codec().MimeType)
		return
	}
	pb.goTracked(func() { pb.readTrack(tr, video) })
}

// readTrack depacketizes one track into frames for the run goroutine.
func (pb *publisher) readTrack(tr *pion.TrackRemote, video bool) {
	mime := strings.ToLower(tr.Codec().MimeType)
	var (
		c    media.Codec
		sb   *samplebuilder.SampleBuilder
		h264 *h264In
	)
	switch mime {
	case strings.ToLower(pion.MimeTypeH264):
		c, h264 = media.H264, &h264In{}
		sb = samplebuilder.New(sampleMaxLate, &codecs.H264Packet{IsAVC: true}, tr.Codec().ClockRate,
			samplebuilder.WithMaxTimeDelay(sampleMaxDelay))
	case strings.ToLower(pion.MimeTypeVP8):
		c = media.VP8
		sb = samplebuilder.New(sampleMaxLate, &codecs.VP8Packet{}, tr.Codec().ClockRate,
			samplebuilder.WithMaxTimeDelay(sampleMaxDelay))
	case strings.ToLower(pion.MimeTypeOpus):
		c = media.Opus
	default:
		pb.log.Warn("unsupported track codec", "codec", mime)
		return
	}
	pb.log.Info("track", "kind", tr.Kind().String(), "codec", c, "ssrc", uint32(tr.SSRC()))
	if video {
		pb.videoSSRC.Store(uint32(tr.SSRC()))
		pb.requestKeyframe()
	}
	clock := rtpClock{rate: int64(tr.Codec().ClockRate)}
	if clock.rate <= 0 {
		clock.rate = 90000
	}
	var start time.Duration
	first, needKey := true, video
	var lastPTS time.Duration
	buf := make([]byte, 1500)
	for {
		n, _, err := tr.Read(buf)
		if err != nil {
			return
		}
		pkt := &rtp.Packet{}
		if err := pkt.Unmarshal(append([]byte(nil), buf[:n]...)); err != nil {
			continue
		}
		now := time.Now()
		if first {
			start, first = now.Sub(pb.t0), false
		}
		if sb == nil { // Opus: one packet, one frame.
			if len(pkt.Payload) == 0 {
				continue
			}
			pts := start + clock.since(pkt.Timestamp)
			if pts < lastPTS { // late or reordered
				continue
			}
			lastPTS = pts
			if !pb.emit(frame{codec: c, pts: pts, key: true, data: pkt.Payload, at: now}) {
				return
			}
			continue
		}
		sb.Push(pkt)
		for s := sb.Pop(); s != nil; s = sb.Pop() {
			if s.PrevDroppedPackets > 0 && !needKey {
				// Frames were lost: what follows references them.
				needKey = true
				pb.requestKeyframe()
			}
			f := frame{video: true, codec: c, pts: start + clock.since(s.PacketTimestamp), at: now}
			switch c {
			case media.H264:
				data, key, ok := h264.unit(s.Data)
				if !ok {
					continue
				}
				f.data, f.key, f.sps, f.pps = data, key, h264.sps, h264.pps
			case media.VP8:
				f.key, f.width, f.height = vp8Key(s.Data)
				f.data = s.Data
			}
			if needKey {
				if !f.key {
					continue
				}
				needKey = false
			}
			if !pb.emit(f) {
				return
			}
		}
	}
}

func (pb *publisher) emit(f frame) bool {
	select {
	case pb.frames <- f:
		return true
	case <-pb.ctx.Done():
		return false
	}
}

// requestKeyframe asks for a PLI soon; safe from any goroutine.
func (pb *publisher) requestKeyframe() {
	select {
	case pb.pliReq <- struct{}{}:
	default:
	}
}

func (pb *publisher) sendPLI(force bool) {
	ssrc := pb.videoSSRC.Load()
	if ssrc == 0 || (!force && time.Since(pb.lastPLI) < minPLIGap) {
		return
	}
	pb.lastPLI = time.Now()
	if err := pb.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}}); err != nil {
		pb.log.Debug("send PLI", "err", err)
	}
}

func (pb *publisher) run() {
	defer pb.srv.sessionDone()
	defer func() {
		pb.srv.setPublisher(pb.key, nil, pb)
		cause := pb.teardown()
		pb.pub.End(cause)
		pb.finish(cause)
	}()
	if !pb.waitConnected(pb.pub.Kicked()) {
		return
	}
	pb.log.Info("publisher connected")
	if pb.hooks.started != nil {
		pb.hooks.started()
	}
	startTimer := time.NewTimer(pb.srv.cfg.StartTimeout)
	defer startTimer.Stop()
	pli := time.NewTicker(pb.srv.cfg.PLIInterval)
	defer pli.Stop()
	for {
		select {
		case <-pb.ctx.Done():
			return
		case <-pb.pub.Kicked():
			pb.close(nil)
			return
		case f := <-pb.frames:
			pb.handle(f)
		case <-startTimer.C:
			if pb.st == nil {
				pb.start(true)
			}
		case <-pli.C:
			pb.sendPLI(true)
		case <-pb.pliReq:
			pb.sendPLI(false)
		}
	}
}

// handle takes one frame: held until the stream starts, written after.
func (pb *publisher) handle(f frame) {
	if pb.st != nil {
		pb.write(f)
		return
	}
	t := &pb.audio
	if f.video {
		t = &pb.video
	}
	if *t == nil {
		*t = &inTrack{codec: f.codec, idx: -1}
	}
	if f.video {
		if !f.key && !(*t).keyed {
			return
		}
		if f.key {
			(*t).keyed = true
			if f.sps != nil {
				(*t).sps, (*t).pps = f.sps, f.pps
			}
			if f.width > 0 {
				(*t).width, (*t).height = f.width, f.height
			}
		}
	}
	if len(pb.pending) == maxPending {
		pb.pending = pb.pending[1:]
	}
	pb.pending = append(pb.pending, f)
	pb.mu.Lock()
	wantVideo, wantAudio := pb.expectVideo, pb.expectAudio
	pb.mu.Unlock()
	if (pb.video.ready() || !wantVideo) && (pb.audio.ready() || !wantAudio) {
		pb.start(false)
	}
}

// start creates the stream with the ready tracks, video first, and writes
// the frames held so far. With force (the start timeout) it starts with
// what is ready, or fails the session if nothing is.
func (pb *publisher) start(force bool) {
	var tracks []media.Track
	if v := pb.video; v.ready() {
		t := media.Track{Codec: v.codec, ClockRate: 90000, Width: v.width, Height: v.height}
		if v.codec == media.H264 {
			t.SPS, t.PPS = v.sps, v.pps
			if w, h, err := codec.SPSSize(v.sps); err == nil {
				t.Width, t.Height = w, h
			}
		}
		v.idx = len(tracks)
		tracks = append(tracks, t)
	}
	if a := pb.audio; a.ready() {
		a.idx = len(tracks)
		tracks = append(tracks, media.Track{Codec: media.Opus, ClockRate: 48000, SampleRate: 48000, Channels: 2})
	}
	if len(tracks) == 0 {
		if force {
			pb.close(errNoMedia)
		}
		return
	}
	if force {
		pb.log.Warn("starting without every offered track", "tracks", len(tracks))
	}
	st, err := pb.pub.Start(tracks)
	if err != nil {
		pb.close(fmt.Errorf("start stream: %w", err))
		return
	}
	pb.st = st
	pb.base = -1
	for _, f := range pb.pending {
		if pb.trackIdx(f) < 0 || (f.video && !f.key && pb.base < 0) {
			continue
		}
		if pb.base < 0 && (f.video || pb.video == nil || pb.video.idx < 0) {
			pb.base = f.pts
		}
		pb.write(f)
	}
	if pb.base < 0 {
		pb.base = 0
	}
	pb.pending = nil
	pb.log.Info("stream started", "tracks", len(tracks))
}

func (pb *publisher) trackIdx(f frame) int {
	t := pb.audio
	if f.video {
		t = pb.video
	}
	if t == nil {
		return -1
	}
	return t.idx
}

func (pb *publisher) write(f frame) {
	idx := pb.trackIdx(f)
	if idx < 0 || pb.base < 0 {
		return
	}
	pts := f.pts - pb.base
	if pts < 0 {
		return // before the first picture
	}
	pb.st.Write(&media.Unit{Track: idx, PTS: pts, DTS: pts, Key: f.key, Data: f.data, Ingest: f.at})
}
