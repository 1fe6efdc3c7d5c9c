package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/pion/rtcp"
	pion "github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
)

// errSourceEnd ends a publication whose source was sent to its end.
var errSourceEnd = errors.New("source sent")

// maxLag is how far behind real time the sender may fall (a loaded
// machine) before it stops trying to catch up.
const maxLag = time.Second

// Source is what Publish sends, paced in real time.
type Source struct {
	// H264 is an H.264 Annex-B elementary stream without B-frames, for
	// example from `ffmpeg -i in.mp4 -c:v copy -bsf:v h264_mp4toannexb -f
	// h264`. Nil: no video track.
	H264 io.Reader
	// FrameRate is the frame rate of H264 (default 30).
	FrameRate float64
	// Opus is an Ogg Opus stream (`ffmpeg -c:a libopus -f ogg`). Nil: no
	// audio track.
	Opus io.Reader
	// Loop rewinds each input at its end, for a publication that lasts
	// until Close; the inputs must then be io.Seekers. Without Loop the
	// publication hangs up once both inputs are sent.
	Loop bool
}

// PublishStats counts what a Publisher sent.
type PublishStats struct {
	VideoFrames  int // access units sent
	Keyframes    int // of which IDR
	AudioPackets int // Opus packets sent
	Loops        int // rewinds of the inputs (Source.Loop)
	// KeyframeRequests counts the PLI and FIR the server sent (a file
	// cannot honour them: its IDRs come on its own schedule).
	KeyframeRequests int
}

// Publisher is a WHIP publication. Close ends it.
type Publisher struct {
	*session
	location     string
	video, audio *pion.TrackLocalStaticSample

	mu    sync.Mutex
	stats PublishStats
}

// Publish publishes src to a WHIP endpoint (http://host:port/App/whip/id)
// and returns once the peer connection is connected; the media is then
// sent in real time until the source ends (without Loop), the server ends
// the session, ctx is done or Close is called.
func Publish(ctx context.Context, whipURL string, src Source, opts Options) (*Publisher, error) {
	if src.H264 == nil && src.Opus == nil {
		return nil, ErrNoMedia
	}
	if src.Loop {
		for _, r := range []io.Reader{src.H264, src.Opus} {
			if _, ok := r.(io.Seeker); r != nil && !ok {
				return nil, ErrNotSeekable
			}
		}
	}
	if src.FrameRate <= 0 {
		src.FrameRate = 30
	}
	opts = opts.withDefaults()
	api, err := newAPI(whipURL, opts, nil)
	if err != nil {
		return nil, err
	}
	s, err := newSession(ctx, api, opts.Logger.With("whip", whipURL))
	if err != nil {
		return nil, err
	}
	p := &Publisher{session: s}
	fail := func(err error) (*Publisher, error) {
		s.end(err)
		<-s.done
		return nil, err
	}
	if src.H264 != nil {
		c := pion.RTPCodecCapability{MimeType: pion.MimeTypeH264, ClockRate: 90000,
			SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}
		if p.video, err = p.addTrack(c, "video"); err != nil {
			return fail(err)
		}
	}
	if src.Opus != nil {
		c := pion.RTPCodecCapability{MimeType: pion.MimeTypeOpus, ClockRate: 48000, Channels: 2}
		if p.audio, err = p.addTrack(c, "audio"); err != nil {
			return fail(err)
		}
	}
	sctx, cancel := context.WithTimeout(ctx, opts.ConnectTimeout)
	defer cancel()
	if p.location, err = exchange(sctx, s, whipURL, opts); err != nil {
		return fail(err)
	}
	if err := s.waitConnected(sctx, opts.ConnectTimeout); err != nil {
		s.hangUp()
		return fail(err)
	}
	s.goTracked(func() { p.send(src) })
	return p, nil
}

// Location is the URL of the WHIP session (DELETE ends it).
func (p *Publisher) Location() string { return p.location }

// Stats returns what was sent so far.
func (p *Publisher) Stats() PublishStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

func (p *Publisher) addTrack(c pion.RTPCodecCapability, kind string) (*pion.TrackLocalStaticSample, error) {
	tr, err := pion.NewTrackLocalStaticSample(c, kind, "colony-client")
	if err != nil {
		return nil, err
	}
	t, err := p.pc.AddTransceiverFromTrack(tr, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionSendonly})
	if err != nil {
		return nil, fmt.Errorf("add %s track: %w", kind, err)
	}
	sender := t.Sender()
	p.goTracked(func() { p.readRTCP(sender) })
	return tr, nil
}

// readRTCP feeds the interceptors (NACK responder, reports) and counts
// keyframe requests.
func (p *Publisher) readRTCP(sender *pion.RTPSender) {
	for {
		pkts, _, err := sender.ReadRTCP()
		if err != nil {
			return
		}
		for _, pkt := range pkts {
			switch pkt.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				p.mu.Lock()
				p.stats.KeyframeRequests++
				p.mu.Unlock()
			}
		}
	}
}

// send paces the inputs in real time: each sample is written when its
// media time comes, video and audio interleaved.
func (p *Publisher) send(src Source) {
	in := &inputs{src: src}
	if err := in.open(); err != nil {
		p.end(err)
		return
	}
	frameDur := time.Duration(float64(time.Second) / src.FrameRate)
	var vTime, aTime time.Duration // media time of the next sample
	t0 := time.Now()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for in.video != nil || in.audio != nil {
		video := in.video != nil && (in.audio == nil || vTime <= aTime)
		at := aTime
		if video {
			at = vTime
		}
		wait := time.Until(t0.Add(at))
		if wait < -maxLag {
			t0 = t0.Add(-wait) // too far behind: resume pacing from now
			wait = 0
		}
		if wait > 0 {
			timer.Reset(wait)
			select {
			case <-p.ctx.Done():
				return
			case <-timer.C:
			}
		}
		var err error
		if video {
			err = p.sendVideo(in, frameDur)
			vTime += frameDur
		} else {
			var samples int
			samples, err = p.sendAudio(in)
			aTime += time.Duration(samples) * time.Second / 48000
		}
		if err != nil {
			p.end(err)
			return
		}
	}
	p.end(errSourceEnd) // first: the hang-up makes the server close the connection
	p.hangUp()
}

func (p *Publisher) sendVideo(in *inputs, frameDur time.Duration) error {
	au, err := in.nextAU()
	if err != nil || au == nil {
		return err
	}
	if err := p.video.WriteSample(media.Sample{Data: annexB(nil, au), Duration: frameDur}); err != nil {
		return fmt.Errorf("write video: %w", err)
	}
	p.mu.Lock()
	p.stats.VideoFrames++
	if hasIDR(au) {
		p.stats.Keyframes++
	}
	p.stats.Loops = in.loops
	p.mu.Unlock()
	return nil
}

func (p *Publisher) sendAudio(in *inputs) (int, error) {
	pkt, samples, err := in.nextOpus()
	if err != nil || pkt == nil {
		return 960, err
	}
	if err := p.audio.WriteSample(media.Sample{Data: pkt, Duration: time.Duration(samples) * time.Second / 48000}); err != nil {
		return samples, fmt.Errorf("write audio: %w", err)
	}
	p.mu.Lock()
	p.stats.AudioPackets++
	p.mu.Unlock()
	return samples, nil
}

// inputs reads a Source, rewinding it with Loop. A nil reader is an
// input that has ended.
type inputs struct {
	src        Source
	video      *auReader
	audio      *opusReader
	videoSince int // samples read since the last rewind
	audioSince int
	loops      int
}

func (in *inputs) open() error {
	var err error
	if in.src.H264 != nil {
		if in.video, err = newAUReader(in.src.H264); err != nil {
			return err
		}
	}
	if in.src.Opus != nil {
		in.audio = newOpusReader(in.src.Opus)
	}
	return nil
}

// rewind seeks r to its start.
func rewind(r io.Reader) error {
	if _, err := r.(io.Seeker).Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("rewind: %w", err)
	}
	return nil
}

// nextAU returns the next access unit, or nil when the video has ended.
func (in *inputs) nextAU() ([][]byte, error) {
	for {
		au, err := in.video.next()
		if err == nil {
			in.videoSince++
			return au, nil
		}
		if !errors.Is(err, io.EOF) {
			return nil, err
		}
		if !in.src.Loop || in.videoSince == 0 {
			in.video = nil
			return nil, nil
		}
		if err := rewind(in.src.H264); err != nil {
			return nil, err
		}
		in.loops++
		in.videoSince = 0
		if in.video, err = newAUReader(in.src.H264); err != nil {
			return nil, err
		}
	}
}

// nextOpus returns the next Opus packet, or nil when the audio has ended.
func (in *inputs) nextOpus() ([]byte, int, error) {
	for {
		pkt, samples, err := in.audio.next()
		if err == nil {
			in.audioSince++
			return pkt, samples, nil
		}
		if !errors.Is(err, io.EOF) {
			return nil, 0, err
		}
		if !in.src.Loop || in.audioSince == 0 {
			in.audio = nil
			return nil, 0, nil
		}
		if err := rewind(in.src.Opus); err != nil {
			return nil, 0, err
		}
		in.audioSince = 0
		in.audio = newOpusReader(in.src.Opus)
	}
}
