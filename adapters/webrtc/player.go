package webrtc

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/core/stream"
	"github.com/pion/rtcp"
	"github.com/pion/rtp/codecs"
	pion "github.com/pion/webrtc/v4"
)

// maxBurstFrames bounds the cached frames a new viewer gets in one burst
// (10 s at 30 fps).
const maxBurstFrames = 300

// outTrack is one track sent to a viewer.
type outTrack struct {
	clock uint32
	base  uint32 // RTP timestamp of the anchor
	out   rtpOut
}

// player sends one stream to one viewer (WHEP or WebSocket play). Its run
// goroutine reads the stream through its own media.Reader; the Opus
// companion of AAC audio, if any, is read by a second goroutine.
type player struct {
	*peer
	st   *media.Stream
	opus *media.Stream // Opus companion of the AAC audio, or nil
	// lazyOpus: the audio track is offered at once and the companion is
	// looked up in the background, so that the bridge's start-up does not
	// delay the first video frame.
	lazyOpus           bool
	videoIdx, audioIdx int
	video, audio       *outTrack
	direct             *directOut // the direct send path, or nil (srtpdirect.go)
	// Used by the companion's fan-out only (sendCompanion).
	opusPayload [1][]byte
	skewLogged  bool
	writeErrs   atomic.Int64

	// Video source switching (adaptive bitrate): base is the video of st;
	// vs says which source is sent. query is the viewer's play query
	// (its token), for playing renditions; origHeight the original's
	// height (0: unknown).
	base       *videoSource
	vs         videoSwitch
	query      url.Values
	origHeight int
	videoBytes atomic.Int64               // video bytes sent, for the sending rate
	lag        sendLag                    // how late live video frames are sent (Config.LagLimit)
	fan        atomic.Pointer[liveFanout] // the video's fan-out, once joined (its lag counts too)
	obs        chan abrObs                // receiver reports for the automatic choice
	pinned     atomic.Bool                // a rendition is forced: no automatic choice
	switchMu   sync.Mutex                 // serialises force and the automatic switches

	// anchored is closed once run has chosen the anchor (the source PTS
	// that RTP timestamps are measured from), at anchorWall.
	anchored   chan struct{}
	anchor     time.Duration
	anchorWall time.Time
}

// playOpts are a play session's options.
type playOpts struct {
	// query is the viewer's play query, used again to play renditions.
	query url.Values
	// height: st is the rendition of this height of key (0: key itself).
	height int
	// origHeight is the original's video height when st is a rendition.
	origHeight int
	// quality is called when the video sent changes rendition, with its
	// height.
	quality func(height int)
	// dtlsServer: the viewer's offer leaves the DTLS role to the server,
	// which takes the server's (the direct send path needs it); false when
	// the server makes the offer or the viewer chose its role.
	dtlsServer bool
}

// acceptFunc tells whether the viewer can receive a codec (lower-case
// name) of a kind; nil accepts everything (the server makes the offer).
type acceptFunc func(kind, codec string) bool

// newPlayer starts a play session of st. The stream's first H.264 or VP8
// track and first Opus track are sent; AAC audio is sent as its Opus
// companion (Config.Audio) when there is one, which ctx bounds the wait for.
func (s *Server) newPlayer(ctx context.Context, key stream.Key, st *media.Stream, remoteAddr string, h hooks, accept acceptFunc, opts playOpts) (*player, error) {
	if accept == nil {
		accept = func(string, string) bool { return true }
	}
	videoIdx, audioIdx, aac := -1, -1, false
	for i, t := range st.Tracks() {
		switch {
		case videoIdx < 0 && (t.Codec == media.H264 || t.Codec == media.VP8) && accept("video", codecName(t.Codec)):
			videoIdx = i
		case audioIdx < 0 && t.Codec == media.Opus && accept("audio", "opus"):
			audioIdx = i
		case t.Codec == media.AAC:
			aac = true
		}
	}
	bridge := aac && audioIdx < 0 && accept("audio", "opus")
	if videoIdx < 0 && audioIdx < 0 && !bridge {
		return nil, fmt.Errorf("%w: stream tracks %s", errNoPlayableTrack, trackList(st.Tracks()))
	}
	var (
		direct *directOut
		api    *pion.API
	)
	if len(s.api.direct) > 0 {
		direct = newDirectOut(s.api.direct)
		api = s.api.viewerAPI(direct, opts.dtlsServer)
	}
	p, err := s.newPeer(api, key, true, remoteAddr, h)
	if err != nil {
		return nil, err
	}
	pl := &player{peer: p, st: st, direct: direct, videoIdx: videoIdx, audioIdx: audioIdx, anchored: make(chan struct{}),
		query: opts.query, origHeight: opts.origHeight, obs: make(chan abrObs, 4)}
	p.play = pl
	if videoIdx >= 0 {
		pl.base = &videoSource{height: opts.height, st: st, track: videoIdx, frames: s.frames(st, videoIdx)}
		pl.lag.shared = &pl.base.frames.lagFloor // one floor for the source's viewers on this node
		if opts.height == 0 {
			pl.origHeight = st.Tracks()[videoIdx].Height
		}
		pl.vs.active = pl.base
		if q := opts.quality; q != nil {
			orig := pl.origHeight
			pl.vs.onSwitch = func(h int) {
				if h == 0 {
					h = orig
				}
				q(h)
			}
		}
	}
	switch {
	case bridge && videoIdx >= 0 && s.cfg.Audio != nil:
		pl.lazyOpus = true
	case bridge:
		pl.opus = pl.companion(ctx) // audio only: playable only with the companion
	}
	var addErr error
	if videoIdx < 0 && audioIdx < 0 && pl.opus == nil {
		addErr = fmt.Errorf("%w: stream tracks %s, and no Opus companion", errNoPlayableTrack, trackList(st.Tracks()))
	} else {
		addErr = pl.addTracks()
	}
	if addErr != nil {
		pl.close(addErr)
	}
	go pl.run()
	if addErr != nil {
		return nil, addErr
	}
	return pl, nil
}

func codecName(c media.Codec) string {
	switch c {
	case media.H264:
		return "h264"
	case media.VP8:
		return "vp8"
	case media.Opus:
		return "opus"
	}
	return ""
}

func trackList(ts []media.Track) string {
	var names []string
	for _, t := range ts {
		names = append(names, string(t.Codec))
	}
	return fmt.Sprint(names)
}

func (pl *player) addTracks() error {
	tracks := pl.st.Tracks()
	if pl.videoIdx >= 0 {
		t := tracks[pl.videoIdx]
		cp := pion.RTPCodecCapability{MimeType: pion.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: videoFeedback}
		ot := &outTrack{clock: 90000, base: randUint32()}
		if t.Codec == media.H264 {
			cp = pion.RTPCodecCapability{MimeType: pion.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: h264FmtpFor(t.SPS), RTCPFeedback: videoFeedback}
		}
		local, err := pion.NewTrackLocalStaticRTP(cp, "video", string(pl.key.ID))
		if err != nil {
			return err
		}
		// The video is packetized by the track's frame cache (writePayloads).
		ot.out = rtpOut{w: local, video: true, seq: uint16(randUint32())}
		tr, err := pl.pc.AddTransceiverFromTrack(local, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionSendonly})
		if err != nil {
			return fmt.Errorf("add video track: %w", err)
		}
		pl.video = ot
		sender := tr.Sender()
		var feed *abrFeed
		if enc := sender.GetParameters().Encodings; len(enc) > 0 {
			ot.out.direct, ot.out.ssrc = pl.direct, uint32(enc[0].SSRC)
			if pl.srv.cfg.Renditions != nil {
				feed = &abrFeed{ssrc: uint32(enc[0].SSRC)}
			}
		}
		pl.goTracked(func() { pl.readRTCP(sender, true, feed) })
	}
	if pl.audioIdx >= 0 || pl.opus != nil || pl.lazyOpus {
		cp := opusCodec().RTPCodecCapability
		local, err := pion.NewTrackLocalStaticRTP(cp, "audio", string(pl.key.ID))
		if err != nil {
			return err
		}
		tr, err := pl.pc.AddTransceiverFromTrack(local, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionSendonly})
		if err != nil {
			return fmt.Errorf("add audio track: %w", err)
		}
		pl.audio = &outTrack{clock: 48000, base: randUint32(),
			out: rtpOut{w: local, payloader: &codecs.OpusPayloader{}, seq: uint16(randUint32())}}
		sender := tr.Sender()
		if enc := sender.GetParameters().Encodings; len(enc) > 0 {
			pl.audio.out.direct, pl.audio.out.ssrc = pl.direct, uint32(enc[0].SSRC)
		}
		pl.goTracked(func() { pl.readRTCP(sender, false, nil) })
	}
	return nil
}

// readRTCP feeds the interceptors (NACK responder, reports), forwards
// the viewer's keyframe requests to the publisher and, for the video
// (feed not nil), its receiver reports to the automatic rendition choice.
func (pl *player) readRTCP(sender *pion.RTPSender, video bool, feed *abrFeed) {
	for {
		pkts, _, err := sender.ReadRTCP()
		if err != nil {
			return
		}
		if !video {
			continue
		}
		if feed != nil {
			if o, ok := feed.observe(pkts, time.Now()); ok {
				pl.observed(o)
			}
		}
		for _, pkt := range pkts {
			switch pkt.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				pl.srv.requestKeyframe(pl.key)
			}
		}
	}
}

func (pl *player) run() {
	defer pl.srv.sessionDone()
	defer func() { pl.finish(pl.teardown()) }()
	if !pl.waitConnected(pl.st.Done()) {
		return
	}
	if pl.direct != nil {
		// Before the first packet: one SRTP context per stream, from its start.
		if err := pl.direct.start(pl.pc); err != nil {
			pl.log.Debug("sent through pion", "reason", err)
		} else {
			pl.srv.directViewers.Add(1)
		}
	}
	pl.log.Info("viewer connected", "direct", pl.direct != nil && pl.direct.on.Load())
	if pl.hooks.started != nil {
		pl.hooks.started()
	}
	f, m, backlog, err := pl.srv.joinVideo(pl.st, pl)
	if err != nil {
		pl.close(nil)
		return
	}
	defer pl.srv.leave(f, m)
	pl.fan.Store(f)
	pl.startCompanion()
	if pl.video != nil && pl.srv.cfg.Renditions != nil {
		pl.goTracked(pl.runABR)
	}
	if len(backlog) == 0 {
		// No cached GOP (a WebRTC source sends keyframes on request).
		pl.srv.requestKeyframe(pl.key)
	}
	pl.burst(backlog, f, m)
	select {
	case <-f.ended:
		pl.close(nil) // the stream ended
	case <-pl.ctx.Done():
	}
}

// burst sends the units since the last keyframe as the viewer's start-up
// burst (see planBacklog), then makes it live in the fan-out f, which
// sends it the units delivered meanwhile and those that follow.
func (pl *player) burst(backlog []*media.Unit, f *liveFanout, m *liveMember) {
	anchor, compressed, live, anchored := planBacklog(backlog, pl.videoIdx, pl.playable)
	if len(compressed) > maxBurstFrames {
		// A very long GOP (a WebRTC source deaf to keyframe requests):
		// rather than a burst of many seconds, wait for the next keyframe.
		pl.log.Info("cached GOP too long to replay: waiting for the next keyframe", "frames", len(compressed))
		anchored, compressed, live = false, nil, nil
		pl.srv.requestKeyframe(pl.key)
	}
	if anchored {
		pl.setAnchor(anchor)
	}
	var pace burstPacer
	for i, u := range compressed {
		pl.offerVideo(pl.base, u, pl.video.base-uint32(len(compressed)-1-i), time.Now())
		if !pace.sent(pl.ctx, len(u.Data)) {
			return // the session ended
		}
	}
	for _, u := range live {
		pl.send(u, anchor)
	}
	if h := pl.srv.cfg.beforeLive; h != nil {
		h()
	}
	f.goLive(m, anchor, anchored)
}

// The start-up burst is paced: after each burstSlice bytes of frames the
// next waits burstGap, about 128 Mbit/s. Sent at once, a cached GOP
// (250 KB at 2 Mbit/s with one-second keyframes) overflows a viewer's
// socket: Chromium reads WebRTC through a 64 KB receive buffer, and the
// kernel's default is 208 KB. In the load harness each joining viewer
// lost about 22 packets there (BENCHMARKS.md, "Viewers that come and
// go"), and the retransmissions they asked for spent the budget meant for
// real loss, which left some unrepaired. The keyframe still goes at once
// (the first picture is not delayed), and the GOP's tail follows within
// a few milliseconds.
const (
	burstSlice = 32 << 10
	burstGap   = 2 * time.Millisecond
)

// burstPacer paces one burst.
type burstPacer struct{ owed int }

// sent counts n bytes sent and waits once a slice's worth is owed; false
// if ctx ended meanwhile.
func (p *burstPacer) sent(ctx context.Context, n int) bool {
	p.owed += n
	if p.owed < burstSlice {
		return true
	}
	wait := time.Duration(p.owed/burstSlice) * burstGap
	p.owed %= burstSlice
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func (pl *player) playable(idx int) bool { return idx == pl.videoIdx || idx == pl.audioIdx }

// send sends a live unit, its timestamp measured from the anchor. Audio
// older than the anchor is dropped.
func (pl *player) send(u *media.Unit, anchor time.Duration) {
	switch {
	case u.Track == pl.videoIdx:
		now := time.Now()
		pl.lag.observe(u.Ingest, now)
		pl.offerVideo(pl.base, u, pl.video.base+rtpTicks(u.PTS-anchor, pl.video.clock), now)
	case u.Track == pl.audioIdx && u.PTS >= anchor:
		pl.check(pl.audio.out.write(u.Data, pl.audio.base+rtpTicks(u.PTS-anchor, pl.audio.clock)))
	}
}

// check logs write errors; the session ends through its connection state.
func (pl *player) check(err error) {
	if err != nil {
		if n := pl.writeErrs.Add(1); n == 1 || n%1000 == 0 {
			pl.log.Debug("write RTP", "err", err, "count", n)
		}
	}
}

func randUint32() uint32 {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint32(b[:])
}
