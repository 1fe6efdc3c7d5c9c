package pluginhost

import (
	"context"
	"fmt"

	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
)

var (
	_ ports.Transcoder  = (*Host)(nil)
	_ ports.AudioBridge = (*Host)(nil)
)

// Transcode starts a session that encodes src into the rungs of ladder
// that do not upscale it, on the current plugin (resolving Config.Plugin
// at the first call). It returns once every rendition's first keyframe is
// encoded (which fixes its tracks), within Config.ReadyTimeout. The
// renditions end when src ends, ctx is cancelled, the host closes, or the
// plugin fails MaxFailures times in a row; a plugin crash or hang only
// leaves a gap in them.
func (h *Host) Transcode(ctx context.Context, key stream.Key, src *media.Stream, ladder []stream.Rendition) ([]ports.Rendition, error) {
	p, err := planLadder(src.Tracks(), ladder)
	if err != nil {
		return nil, fmt.Errorf("transcoding %s: %w", key, err)
	}
	if len(p.skipped) > 0 {
		h.log.Info("ladder rungs skipped", "stream", key.String(), "skipped", p.skipped)
	}
	if err := h.run(ctx, key, src, p); err != nil {
		return nil, fmt.Errorf("transcoding %s: %w", key, err)
	}
	return p.renditions, nil
}

// BridgeAudio starts a session that encodes src's audio alone as codec to
// (media.Opus at 48 kHz for WebRTC, in packets of Config.OpusFrame, or
// media.AAC), at bitrate bits/s (0: the plugin's default), with the
// source's timestamps. The returned stream has one audio track and lives
// like Transcode's renditions.
func (h *Host) BridgeAudio(ctx context.Context, key stream.Key, src *media.Stream, to media.Codec, bitrate int) (*media.Stream, error) {
	p, err := planBridge(src.Tracks(), to, bitrate, h.cfg.OpusFrame)
	if err != nil {
		return nil, fmt.Errorf("bridging the audio of %s: %w", key, err)
	}
	if err := h.run(ctx, key, src, p); err != nil {
		return nil, fmt.Errorf("bridging the audio of %s: %w", key, err)
	}
	return p.renditions[0].Stream, nil
}

func (h *Host) run(ctx context.Context, key stream.Key, src *media.Stream, p *plan) error {
	name, err := h.resolve(ctx)
	if err != nil {
		return err
	}
	s, err := h.newSession(ctx, key, src, p, name)
	if err != nil {
		return err
	}
	return s.start(ctx)
}
