package engine

import (
	"context"
	"errors"
	"fmt"

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
// stream; a failed start is not retried for that stream.
func (e *Engine) OpusFor(ctx context.Context, key stream.Key) (*media.Stream, error) {
	return e.companionFor(ctx, key, media.AAC, media.Opus, opusBitrate)
}

// AACFor returns a stream with one AAC track: the Opus audio of key (a
// WebRTC publication) re-encoded for HLS players that cannot play Opus
// (Safari and iOS among them), with key's timestamps. It is shared and
// runs like OpusFor's bridge: once per live stream, ended with it.
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
// when src does, or at shutdown.
func (e *Engine) runCompanion(key stream.Key, src *media.Stream, to media.Codec, bitrate int, c *companion) {
	s, err := e.deps.AudioBridge.BridgeAudio(e.runCtx, key, src, to, bitrate)
	if err != nil {
		e.log.Warn("cannot bridge the audio", "stream", key.String(), "to", to, "err", err)
		c.err = fmt.Errorf("%w: %w", ErrNoAudioBridge, err)
	} else {
		e.log.Info("audio bridged", "stream", key.String(), "to", to)
		c.s = s
	}
	close(c.ready)
}
