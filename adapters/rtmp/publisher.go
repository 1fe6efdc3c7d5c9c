package rtmp

import (
	"bytes"
	"fmt"
	"log/slog"
	"time"

	"github.com/colony-live/colony/core/codec"
	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/ports"
)

// Bounds of the units kept while waiting for the sequence headers. Past
// either, the backlog is dropped: readers start at a later keyframe anyway.
const (
	maxPendingUnits = 1024
	maxPendingBytes = 32 << 20
)

// publisher turns one publisher's RTMP audio and video messages into a
// media.Stream: it collects the sequence headers, starts the publication
// once the tracks are known and writes units to it. One goroutine (the
// connection's) uses it; it does no I/O.
type publisher struct {
	pub     ports.Publication
	log     *slog.Logger
	maxWait time.Duration
	began   time.Time
	tl      timeline
	meta    streamMeta

	video, audio *media.Track // latest sequence headers before the start

	stream   *media.Stream
	videoIdx int // index of the video track, -1 when the stream has none
	audioIdx int

	pending      []pendingUnit
	pendingBytes int

	// inband holds SPS and PPS (AVCC) prepended to keyframes after the
	// publisher changed its H.264 parameters mid-stream (tracks are fixed).
	inband       []byte
	warnedLateAV bool
}

type pendingUnit struct {
	video bool
	u     *media.Unit
}

func newPublisher(pub ports.Publication, log *slog.Logger, maxWait time.Duration, now time.Time) *publisher {
	return &publisher{pub: pub, log: log, maxWait: maxWait, began: now, videoIdx: -1, audioIdx: -1}
}

// started reports whether the publication has started.
func (p *publisher) started() bool { return p.stream != nil }

// onMeta records what the publisher's onMetaData announces.
func (p *publisher) onMeta(m streamMeta) {
	if m.known {
		p.meta = m
	}
}

// onVideo handles the body b of a video message with RTMP timestamp ts.
func (p *publisher) onVideo(now time.Time, ts uint32, b []byte) error {
	res, err := videoFromFLV(p.tl.at(ts), b)
	if err != nil {
		return err
	}
	if res.Track != nil {
		p.videoHeader(*res.Track)
	}
	if res.Unit != nil {
		p.unit(now, true, res.Unit)
	}
	return p.maybeStart(now)
}

// onAudio handles the body b of an audio message with RTMP timestamp ts.
func (p *publisher) onAudio(now time.Time, ts uint32, b []byte) error {
	res, err := audioFromFLV(p.tl.at(ts), b)
	if err != nil {
		return err
	}
	if res.Track != nil {
		p.audioHeader(*res.Track)
	}
	if res.Unit != nil {
		p.unit(now, false, res.Unit)
	}
	return p.maybeStart(now)
}

func (p *publisher) videoHeader(t media.Track) {
	switch {
	case !p.started():
		p.video = &t
	case p.videoIdx < 0:
		p.warnLate("video")
	default:
		cur := p.stream.Tracks()[p.videoIdx]
		if bytes.Equal(cur.SPS, t.SPS) && bytes.Equal(cur.PPS, t.PPS) {
			p.inband = nil
			return
		}
		p.inband = codec.JoinAVCC([][]byte{t.SPS, t.PPS})
		p.log.Info("H.264 parameters changed mid-stream; sending them in-band with keyframes",
			"width", t.Width, "height", t.Height)
	}
}

func (p *publisher) audioHeader(t media.Track) {
	switch {
	case !p.started():
		p.audio = &t
	case p.audioIdx < 0:
		p.warnLate("audio")
	case !bytes.Equal(p.stream.Tracks()[p.audioIdx].Config, t.Config):
		p.log.Warn("AAC configuration changed mid-stream; ignored", "sample_rate", t.SampleRate, "channels", t.Channels)
	}
}

func (p *publisher) warnLate(kind string) {
	if !p.warnedLateAV {
		p.warnedLateAV = true
		p.log.Warn("sequence header arrived after the stream started without this track; ignored", "track", kind)
	}
}

func (p *publisher) unit(now time.Time, video bool, u *media.Unit) {
	u.Ingest = now
	if p.started() {
		p.write(video, u)
		return
	}
	if len(p.pending) >= maxPendingUnits || p.pendingBytes+len(u.Data) > maxPendingBytes {
		clear(p.pending)
		p.pending, p.pendingBytes = p.pending[:0], 0
	}
	p.pending = append(p.pending, pendingUnit{video: video, u: u})
	p.pendingBytes += len(u.Data)
}

func (p *publisher) write(video bool, u *media.Unit) {
	idx := p.audioIdx
	if video {
		idx = p.videoIdx
	}
	if idx < 0 {
		return // a track the stream does not carry
	}
	u.Track = idx
	if video && u.Key && p.inband != nil {
		u.Data = append(append(make([]byte, 0, len(p.inband)+len(u.Data)), p.inband...), u.Data...)
	}
	p.stream.Write(u)
}

// maybeStart starts the publication once readyToStart says so, then
// flushes the units received meanwhile.
func (p *publisher) maybeStart(now time.Time) error {
	if p.started() {
		return nil
	}
	ok, err := readyToStart(p.video != nil, p.audio != nil, p.meta, now.Sub(p.began), p.maxWait)
	if err != nil {
		return fmt.Errorf("%w within %v", err, p.maxWait)
	}
	if !ok {
		return nil
	}
	var tracks []media.Track
	if p.video != nil {
		p.videoIdx = len(tracks)
		tracks = append(tracks, *p.video)
	}
	if p.audio != nil {
		p.audioIdx = len(tracks)
		tracks = append(tracks, *p.audio)
	}
	s, err := p.pub.Start(tracks)
	if err != nil {
		p.videoIdx, p.audioIdx = -1, -1
		return fmt.Errorf("start publication: %w", err)
	}
	p.stream = s
	attrs := []any{"waited", now.Sub(p.began).Round(time.Millisecond)}
	if p.video != nil {
		attrs = append(attrs, "video", fmt.Sprintf("H264 %dx%d", p.video.Width, p.video.Height))
	}
	if p.audio != nil {
		attrs = append(attrs, "audio", fmt.Sprintf("AAC %d Hz %d ch", p.audio.SampleRate, p.audio.Channels))
	}
	p.log.Info("publication started", attrs...)
	for _, pu := range p.pending {
		p.write(pu.video, pu.u)
	}
	clear(p.pending)
	p.pending, p.pendingBytes = nil, 0
	return nil
}
