package pluginhost

import "errors"

// Errors of the plugin host.
var (
	// ErrUnknownPlugin: no colony-transcoder-<name> executable in the plugin directory.
	ErrUnknownPlugin = errors.New("unknown transcoder plugin")
	// ErrNoPlugin: no plugin passes its probe.
	ErrNoPlugin = errors.New("no usable transcoder plugin")
	// ErrUnavailable: the plugin's probe failed (its hardware is missing).
	ErrUnavailable = errors.New("transcoder plugin unavailable")
	// ErrChecksum: the plugin's executable does not match its pinned
	// SHA-256 (or has no pin while pins are required); it was not started.
	ErrChecksum = errors.New("transcoder plugin checksum mismatch")
	// ErrPluginStart: the plugin process did not start or did not complete
	// the handshake.
	ErrPluginStart = errors.New("transcoder plugin failed to start")
	// ErrNoRenditions: no rung of the ladder applies to the source (all
	// would upscale, or the ladder is empty).
	ErrNoRenditions = errors.New("no rendition applies to the source")
	// ErrUnsupportedSource: the source's codecs cannot be transcoded.
	ErrUnsupportedSource = errors.New("source cannot be transcoded")
	// ErrNotReady: the plugin did not produce every rendition's first
	// keyframe in time.
	ErrNotReady = errors.New("renditions not ready in time")
	// ErrClosed: the host is closed.
	ErrClosed = errors.New("plugin host closed")
)
