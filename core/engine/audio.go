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

// opusBitrate is the bitrate of the Opus companions, bits/s.
const opusBitrate = 64000

// opusBridge is the Opus companion of one live stream's AAC audio.
type opusBridge struct {
	ready chan struct{} // closed once s or err is set
	s     *media.Stream
	err   error
}

// ErrNoAudioBridge: OpusFor cannot serve the stream (no bridge configured,
// or its audio is not AAC).
var ErrNoAudioBridge = errors.New("no audio bridge for this stream")

// OpusFor implements ports.AudioCompanions. The bridge runs once per live
// stream (published or pulled here), started by the first viewer that
// asks, and ends with the stream; a failed start is not retried for that
// stream.
func (e *Engine) OpusFor(ctx context.Context, key stream.Key) (*media.Stream, error) {
	e.mu.Lock()
	en := e.live[key]
	if en == nil || en.s == nil {
		e.mu.Unlock()
		return nil, fmt.Errorf("%w: %s", ports.ErrStreamNotFound, key)
	}
	src := en.s
	b := en.opus
	if b == nil {
		if err := e.canBridge(src); err != nil {
			e.mu.Unlock()
			return nil, err
		}
		if e.stopping {
			e.mu.Unlock()
			return nil, fmt.Errorf("%w: node is shutting down", ports.ErrOverloaded)
		}
		b = &opusBridge{ready: make(chan struct{})}
		en.opus = b
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			e.runOpus(key, src, b)
		}()
	}
	e.mu.Unlock()
	select {
	case <-b.ready:
		return b.s, b.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// canBridge checks that src has AAC audio and a bridge exists.
func (e *Engine) canBridge(src *media.Stream) error {
	if e.deps.AudioBridge == nil {
		return fmt.Errorf("%w: no transcoder", ErrNoAudioBridge)
	}
	for _, t := range src.Tracks() {
		if t.Codec == media.AAC {
			return nil
		}
	}
	return fmt.Errorf("%w: no AAC audio track", ErrNoAudioBridge)
}

// runOpus starts the bridge of src. Its session ends when src does, or
// at shutdown.
func (e *Engine) runOpus(key stream.Key, src *media.Stream, b *opusBridge) {
	s, err := e.deps.AudioBridge.BridgeAudio(e.runCtx, key, src, media.Opus, opusBitrate)
	if err != nil {
		e.log.Warn("cannot bridge the audio to Opus", "stream", key.String(), "err", err)
		b.err = fmt.Errorf("%w: %w", ErrNoAudioBridge, err)
	} else {
		e.log.Info("audio bridged to Opus", "stream", key.String())
		b.s = s
	}
	close(b.ready)
}
