package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
)

var _ ports.AudioCompanions = (*Engine)(nil)

// Bitrates of the audio companions, bits/s.
const (
	opusBitrate = 64000
	aacBitrate  = 128000
)

// companion is one audio companion of a live stream: its audio
// re-encoded to one codec.
type companion struct {
	ready chan struct{} // closed once s or err is set
	s     *media.Stream
	err   error
	// handedAt is when companionFor last returned it (guarded by
	// Engine.mu): a viewer given s attaches a moment later, so the idle
	// stop leaves it alone until CompanionIdle after that.
	handedAt time.Time
}

// audioCompanions holds the audio companions of one live stream, by target
// codec (entry.audio). Guarded by
// Engine.mu.
type audioCompanions struct {
	by map[media.Codec]*companion
}

// ErrNoAudioBridge: OpusFor or AACFor cannot serve the stream (no bridge
// configured, or its audio is not in the codec the bridge converts from).
var ErrNoAudioBridge = errors.New("no audio bridge for this stream")

// OpusFor implements ports.AudioCompanions: AAC audio re-encoded to Opus
// for WebRTC viewers. The bridge runs once per live stream (published or
// pulled here), started by the first viewer that asks, and ends with the
// stream or once it has had no viewers for Config.CompanionIdle (the next
// viewer starts it again); a failed start is not retried for that stream.
func (e *Engine) OpusFor(ctx context.Context, key stream.Key) (*media.Stream, error) {
	return e.companionFor(ctx, key, media.AAC, media.Opus, opusBitrate)
}

// AACFor returns a stream with one AAC track: the Opus audio of key (a
// WebRTC publication) re-encoded for HLS players that cannot play Opus
// (Safari and iOS among them), with key's timestamps. It is shared and
// runs like OpusFor's bridge: once per live stream, ended with it or when
// idle.
func (e *Engine) AACFor(ctx context.Context, key stream.Key) (*media.Stream, error) {
	return e.companionFor(ctx, key, media.Opus, media.AAC, aacBitrate)
}

// companionFor returns key's companion in codec to, starting it on first
// demand, and waits for it to be ready.
func (e *Engine) companionFor(ctx context.Context, key stream.Key, from, to media.Codec, bitrate int) (*media.Stream, error) {
	e.mu.Lock()
	en := e.live[key]
	if en == nil || en.s == nil {
		e.mu.Unlock()
		return nil, fmt.Errorf("%w: %s", ports.ErrStreamNotFound, key)
	}
	src := en.s
	if en.audio == nil {
		en.audio = &audioCompanions{by: make(map[media.Codec]*companion)}
	}
	c := en.audio.by[to]
	if c == nil {
		if err := e.canBridge(src, from); err != nil {
			e.mu.Unlock()
			return nil, err
		}
		if e.stopping {
			e.mu.Unlock()
			return nil, fmt.Errorf("%w: node is shutting down", ports.ErrOverloaded)
		}
		c = &companion{ready: make(chan struct{})}
		en.audio.by[to] = c
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			e.runCompanion(key, src, to, bitrate, c)
		}()
	}
	c.handedAt = time.Now()
	e.mu.Unlock()
	select {
	case <-c.ready:
		return c.s, c.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// canBridge checks that src has audio in codec from and a bridge exists.
func (e *Engine) canBridge(src *media.Stream, from media.Codec) error {
	if e.deps.AudioBridge == nil {
		return fmt.Errorf("%w: no transcoder", ErrNoAudioBridge)
	}
	for _, t := range src.Tracks() {
		if t.Codec == from {
			return nil
		}
	}
	return fmt.Errorf("%w: no %s audio track", ErrNoAudioBridge, from)
}

// runCompanion starts the bridge of src to codec to. Its session ends
// when src does, at shutdown, or once idle (stopIdleCompanion).
func (e *Engine) runCompanion(key stream.Key, src *media.Stream, to media.Codec, bitrate int, c *companion) {
	ctx, cancel := context.WithCancel(e.runCtx)
	defer cancel()
	s, err := e.deps.AudioBridge.BridgeAudio(ctx, key, src, to, bitrate)
	if err != nil {
		e.log.Warn("cannot bridge the audio", "stream", key.String(), "to", to, "err", err)
		c.err = fmt.Errorf("%w: %w", ErrNoAudioBridge, err)
	} else {
		e.log.Info("audio bridged", "stream", key.String(), "to", to)
		c.s = s
	}
	close(c.ready)
	if err == nil {
		e.stopIdleCompanion(ctx, key, to, c)
	}
}

// stopIdleCompanion waits until c's stream ends, or until it has had no
// readers for Config.CompanionIdle (and has not been handed to a viewer
// for as long); then it forgets c, so that the next viewer starts a new
// bridge, and returns, which ends this one. An idle bridge would otherwise
// transcode for the stream's whole life for viewers long gone.
func (e *Engine) stopIdleCompanion(ctx context.Context, key stream.Key, to media.Codec, c *companion) {
	idle := e.cfg.CompanionIdle
	t := time.NewTicker(min(idle/4, 5*time.Second))
	defer t.Stop()
	var idleSince time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.s.Done():
			return
		case <-t.C:
		}
		now := time.Now() // real time, like the pulls' idle watcher
		e.mu.Lock()
		if c.s.Readers() > 0 {
			idleSince = time.Time{}
			e.mu.Unlock()
			continue
		}
		if idleSince.IsZero() {
			idleSince = now
		}
		// Both for idle: the last reader gone and the last hand-out (the
		// two run concurrently, so a viewer that left at once is not
		// waited for twice).
		if now.Sub(idleSince) < idle || now.Sub(c.handedAt) < idle {
			e.mu.Unlock()
			continue
		}
		if en := e.live[key]; en != nil && en.audio != nil && en.audio.by[to] == c {
			delete(en.audio.by, to)
		}
		e.mu.Unlock()
		e.log.Info("audio bridge idle: stopped", "stream", key.String(), "to", to, "idle", idle)
		return
	}
}
