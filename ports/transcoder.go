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
	// applies to it (renditions never upscale). Rendition keyframes are
	// aligned with the source's. The renditions end when src ends or ctx is
	// cancelled; a failing encoder ends only its own renditions.
	Transcode(ctx context.Context, key stream.Key, src *media.Stream, ladder []stream.Rendition) ([]Rendition, error)
}

// Rendition is one encoded rung of a ladder.
type Rendition struct {
	// Name is the rendition's suffix, such as "720p" or "480p".
	Name   string
	Rung   stream.Rendition
	Stream *media.Stream
}
