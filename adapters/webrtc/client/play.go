package client

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	pion "github.com/pion/webrtc/v4"
)

const (
	// reorderWait is how long a missing packet is waited for (NACK).
	reorderWait = 500 * time.Millisecond
	// reorderHeld bounds the packets held behind a missing one.
	reorderHeld = 1024
	// minPLIGap spaces the keyframe requests the player sends.
	minPLIGap = 500 * time.Millisecond
)

// PlayOptions configure a Player.
type PlayOptions struct {
	Options
	// OnAccessUnit is called with each decodable H.264 access unit, in
	// order, from the first keyframe on (after a loss, from the next
	// keyframe), on the goroutine that reads the track: keep it short.
	OnAccessUnit func(AccessUnit)
	// Record, when set, receives the same access units in Annex-B form:
	// a stream ffmpeg decodes without error (`ffmpeg -f h264 -i ...`).
	Record io.Writer
	// NoAudio leaves audio out of the offer (WHEP).
	NoAudio bool
	// OnAudioPacket is called with each audio RTP packet and its arrival
	// time, on the goroutine that reads the track: keep it short, and copy
	// the packet to keep it (pion's oggwriter.WriteRTP records Opus).
	OnAudioPacket func(p *rtp.Packet, arrival time.Time)
}

// PlayStats counts what a Player received.
type PlayStats struct {
	VideoCodec, AudioCodec string // MIME types of the received tracks
	VideoPackets           int    // RTP packets, duplicates included
	AudioPackets           int
	VideoBytes, AudioBytes int64 // RTP payload bytes
	LostPackets            int   // video packets never received (after NACK)
	DuplicatePackets       int   // video packets received twice or too late
	AccessUnits            int   // decodable access units delivered
	Keyframes              int   // of which IDR
	DroppedUnits           int   // incomplete, or waiting for a keyframe
	NACKedPackets          int   // retransmissions asked for (NACK)
	KeyframeRequests       int   // PLI sent after losses
	// FirstUnitKey reports whether the first complete access unit
	// received was an IDR (a server should start viewers at one).
	FirstUnitKey bool
	// ConnectedAt, FirstPacketAt and FirstFrameAt are when the peer
	// connection connected, the first video packet came and the first
	// decodable access unit was complete; FirstAudioAt when the first
	// audio packet came.
	ConnectedAt, FirstPacketAt, FirstFrameAt, FirstAudioAt time.Time
	// RecordErr is the first error writing to PlayOptions.Record.
	RecordErr error
}

// Player receives a stream (WHEP or Ant Media WebSocket). Close ends it.
type Player struct {
	*session
	opts     PlayOptions
	counts   *rtcpCounts
	location string

	mu      sync.Mutex
	stats   PlayStats
	lastPLI time.Time
}

// Play plays a stream from a WHEP endpoint (http://host:port/App/whep/id)
// and returns once the peer connection is connected. Media is received
// until the server ends the session, ctx is done or Close is called.
func Play(ctx context.Context, whepURL string, opts PlayOptions) (*Player, error) {
	pl, err := newPlayer(ctx, whepURL, opts)
	if err != nil {
		return nil, err
	}
	s := pl.session
	kinds := []pion.RTPCodecType{pion.RTPCodecTypeVideo}
	if !opts.NoAudio {
		kinds = append(kinds, pion.RTPCodecTypeAudio)
	}
	for _, k := range kinds {
		if _, err := s.pc.AddTransceiverFromKind(k, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionRecvonly}); err != nil {
			return pl.fail(fmt.Errorf("add %s transceiver: %w", k, err))
		}
	}
	sctx, cancel := context.WithTimeout(ctx, pl.opts.ConnectTimeout)
	defer cancel()
	if pl.location, err = exchange(sctx, s, whepURL, pl.opts.Options); err != nil {
		return pl.fail(err)
	}
	if err := s.waitConnected(sctx, pl.opts.ConnectTimeout); err != nil {
		s.hangUp()
		return pl.fail(err)
	}
	pl.markConnected()
	return pl, nil
}

func newPlayer(ctx context.Context, serverURL string, opts PlayOptions) (*Player, error) {
	opts.Options = opts.Options.withDefaults()
	counts := &rtcpCounts{}
	api, err := newAPI(serverURL, opts.Options, counts)
	if err != nil {
		return nil, err
	}
	s, err := newSession(ctx, api, opts.Logger.With("play", serverURL))
	if err != nil {
		return nil, err
	}
	pl := &Player{session: s, opts: opts, counts: counts}
	s.pc.OnTrack(func(tr *pion.TrackRemote, recv *pion.RTPReceiver) {
		s.goTracked(func() { drainRTCP(recv) })
		s.goTracked(func() { pl.readTrack(tr) })
	})
	return pl, nil
}

func (pl *Player) fail(err error) (*Player, error) {
	pl.end(err)
	<-pl.done
	return nil, err
}

func (pl *Player) markConnected() {
	pl.mu.Lock()
	pl.stats.ConnectedAt = time.Now()
	pl.mu.Unlock()
}

// Location is the URL of the WHEP session (empty over the WebSocket).
func (pl *Player) Location() string { return pl.location }

// Stats returns what was received so far.
func (pl *Player) Stats() PlayStats {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	st := pl.stats
	st.NACKedPackets = int(pl.counts.nacked.Load())
	st.KeyframeRequests = int(pl.counts.plis.Load())
	return st
}

// WaitFrames waits until n decodable access units were received; it
// fails when ctx is done or the session ends first.
func (pl *Player) WaitFrames(ctx context.Context, n int) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		if got := pl.Stats().AccessUnits; got >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d frames: %w", pl.Stats().AccessUnits, n, ctx.Err())
		case <-pl.ctx.Done():
			if got := pl.Stats().AccessUnits; got >= n {
				return nil
			}
			return fmt.Errorf("%d of %d frames: session ended: %w", pl.Stats().AccessUnits, n, context.Cause(pl.ctx))
		case <-t.C:
		}
	}
}

// drainRTCP reads a receiver's RTCP so that the interceptors see it.
func drainRTCP(recv *pion.RTPReceiver) {
	for {
		if _, _, err := recv.ReadRTCP(); err != nil {
			return
		}
	}
}

func (pl *Player) readTrack(tr *pion.TrackRemote) {
	mime := tr.Codec().MimeType
	video := tr.Kind() == pion.RTPCodecTypeVideo
	pl.mu.Lock()
	if video {
		pl.stats.VideoCodec = mime
	} else {
		pl.stats.AudioCodec = mime
	}
	pl.mu.Unlock()
	if !video {
		pl.readAudio(tr)
		return
	}
	if !strings.EqualFold(mime, pion.MimeTypeH264) {
		pl.log.Warn("video codec not reassembled", "codec", mime)
	}
	ro := newReorder(reorderWait, reorderHeld)
	asm := newH264Assembler(pl.deliver)
	for {
		p, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		now := time.Now()
		pl.mu.Lock()
		pl.stats.VideoPackets++
		pl.stats.VideoBytes += int64(len(p.Payload))
		if pl.stats.FirstPacketAt.IsZero() {
			pl.stats.FirstPacketAt = now
		}
		pl.mu.Unlock()
		ro.push(p, now, func(q *rtp.Packet, lost int) { asm.push(q, lost, now) })
		pl.mu.Lock()
		pl.stats.LostPackets, pl.stats.DuplicatePackets = ro.lost, ro.duplicate
		requestKey := asm.dropped > pl.stats.DroppedUnits && now.Sub(pl.lastPLI) >= minPLIGap && asm.complete > 0
		pl.stats.DroppedUnits = asm.dropped
		if asm.firstKey != nil {
			pl.stats.FirstUnitKey = *asm.firstKey
		}
		if requestKey {
			pl.lastPLI = now
		}
		pl.mu.Unlock()
		if requestKey {
			if err := pl.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(tr.SSRC())}}); err != nil {
				pl.log.Debug("send PLI", "err", err)
			}
		}
	}
}

// deliver hands a decodable access unit to the caller.
func (pl *Player) deliver(au AccessUnit) {
	pl.mu.Lock()
	pl.stats.AccessUnits++
	if au.Key {
		pl.stats.Keyframes++
	}
	if pl.stats.FirstFrameAt.IsZero() {
		pl.stats.FirstFrameAt = au.Arrival
	}
	rec := pl.opts.Record != nil && pl.stats.RecordErr == nil
	pl.mu.Unlock()
	if rec {
		if _, err := pl.opts.Record.Write(au.AnnexB()); err != nil {
			pl.mu.Lock()
			pl.stats.RecordErr = err
			pl.mu.Unlock()
		}
	}
	if pl.opts.OnAccessUnit != nil {
		pl.opts.OnAccessUnit(au)
	}
}

func (pl *Player) readAudio(tr *pion.TrackRemote) {
	for {
		p, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		now := time.Now()
		pl.mu.Lock()
		pl.stats.AudioPackets++
		pl.stats.AudioBytes += int64(len(p.Payload))
		if pl.stats.FirstAudioAt.IsZero() {
			pl.stats.FirstAudioAt = now
		}
		pl.mu.Unlock()
		if pl.opts.OnAudioPacket != nil {
			pl.opts.OnAudioPacket(p, now)
		}
	}
}
