package ports

import (
	"context"

	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/core/stream"
)

// Transcoder encodes a live stream into an adaptive-bitrate ladder (the
// transcoder plugin host).
type Transcoder interface {
	// Transcode reads src and returns one stream per rung of ladder that
	// applies to it (renditions never upscale). It returns once each
	// rendition's tracks are known (its first keyframe is encoded).
	// Rendition keyframes are aligned with the source's. The renditions end
	// when src ends or ctx is cancelled; a failing encoder ends only its own
	// renditions, and a restarted one leaves a gap in them.
	Transcode(ctx context.Context, key stream.Key, src *media.Stream, ladder []stream.Rendition) ([]Rendition, error)
}

// AudioBridge re-encodes a stream's audio for protocols that cannot carry
// it: AAC to Opus for WebRTC viewers, Opus to AAC for HLS and RTMP.
type AudioBridge interface {
	// BridgeAudio returns a stream with one audio track: src's audio
	// encoded as codec to (media.Opus or media.AAC) at bitrate bits/s (0:
	// a default), with src's timestamps. It ends like Transcode's renditions.
	BridgeAudio(ctx context.Context, key stream.Key, src *media.Stream, to media.Codec, bitrate int) (*media.Stream, error)
}

// Rendition is one encoded rung of a ladder.
type Rendition struct {
	// Name is the rendition's suffix, such as "720p" or "480p".
	Name string
	// Rung is the rung as encoded (a ForceEncode rung taller than the
	// source has the source's height here).
	Rung   stream.Rendition
	Stream *media.Stream
}
