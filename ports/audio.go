package ports

import (
	"context"

	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/core/stream"
)

// AudioCompanions give protocols that cannot carry a stream's audio codec
// a companion stream with that audio re-encoded: Opus for WebRTC viewers
// of an RTMP (AAC) stream. The engine implements it with an AudioBridge.
type AudioCompanions interface {
	// OpusFor returns a stream with one Opus track: the audio of key,
	// live on this node (Playback.Play first), with key's timestamps. The
	// first call starts the bridge and waits until its first Opus packet;
	// later calls share it. It ends when key's stream ends. It fails
	// (ErrStreamNotFound, or why the audio cannot be bridged) when key is
	// not live here, has no AAC audio, or no bridge is available.
	OpusFor(ctx context.Context, key stream.Key) (*media.Stream, error)
}
