package pluginhost

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"
)

// Auto asks Select for the first GPU plugin whose probe passes, else ffmpeg.
const Auto = "auto"

// Config configures a Host. Durations left zero take the defaults.
type Config struct {
	// Dir holds the plugin executables, named colony-transcoder-<name>
	// (required).
	Dir string
	// Plugin is the plugin new sessions use until Select or Swap: Auto
	// (the default) or a plugin name. It is resolved at the first Transcode.
	Plugin string
	// Checksums pins plugins, by name, to the hex SHA-256 of their
	// executable; a pinned plugin whose file differs is not started.
	Checksums map[string]string
	// RequireChecksums refuses to start plugins that have no pin.
	RequireChecksums bool
	// StartTimeout bounds a plugin's start and handshake (default 10 s).
	StartTimeout time.Duration
	// ProbeTimeout bounds one Probe, trial encode included (default 30 s).
	ProbeTimeout time.Duration
	// ReadyTimeout bounds how long Transcode waits for the first encoded
	// keyframe of every rendition, which fixes the renditions' tracks
	// (default 20 s).
	ReadyTimeout time.Duration
	// StallTimeout declares a plugin hung when it is fed but produces
	// nothing for this long (default 10 s); it is then killed and restarted.
	StallTimeout time.Duration
	// RestartBackoff is the wait before the first restart of a failed
	// plugin (default 200 ms); it doubles with each failure in a row that
	// produced nothing, up to MaxRestartBackoff (default 10 s).
	RestartBackoff    time.Duration
	MaxRestartBackoff time.Duration
	// MaxFailures ends a session's renditions after this many plugin
	// failures in a row without any output (default 5).
	MaxFailures int
	// DrainTimeout bounds how long a replaced plugin may take to flush its
	// last GOP after a Swap (default 5 s).
	DrainTimeout time.Duration
	// OpusFrame is the duration of each Opus packet the audio bridge makes
	// for WebRTC viewers: 10, 20 (the default, what browsers send), 40 or
	// 60 ms. Every packet goes to every viewer, so 40 ms halves the
	// audio's packets (and the server's work for them) and adds 20 ms to
	// the audio's latency.
	OpusFrame time.Duration
	// Managed registers every plugin client with go-plugin, so that
	// plugin.CleanupClients() kills them too. Off by default: Close already
	// kills every plugin the host started, and go-plugin never forgets a
	// managed client (about 20 KB kept per plugin start, for the life of
	// the process).
	Managed bool
	// Logger receives the host's and the plugins' messages (default: none).
	Logger *slog.Logger
}

// ValidOpusFrame reports whether d is an Opus packet duration the audio
// bridge makes (Config.OpusFrame): 10, 20, 40 or 60 ms.
func ValidOpusFrame(d time.Duration) bool {
	switch d {
	case 10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond, 60 * time.Millisecond:
		return true
	}
	return false
}

func (c Config) withDefaults() (Config, error) {
	if c.Dir == "" {
		return c, errors.New("pluginhost: Config.Dir is required")
	}
	if c.Plugin == "" {
		c.Plugin = Auto
	}
	for name, sum := range c.Checksums {
		if b, err := hex.DecodeString(sum); err != nil || len(b) != 32 {
			return c, fmt.Errorf("pluginhost: checksum of plugin %q is not a hex SHA-256", name)
		}
	}
	if c.OpusFrame == 0 {
		c.OpusFrame = 20 * time.Millisecond
	}
	if !ValidOpusFrame(c.OpusFrame) {
		return c, fmt.Errorf("pluginhost: an Opus frame of %v (want 10, 20, 40 or 60 ms)", c.OpusFrame)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.StartTimeout, 10*time.Second)
	def(&c.ProbeTimeout, 30*time.Second)
	def(&c.ReadyTimeout, 20*time.Second)
	def(&c.StallTimeout, 10*time.Second)
	def(&c.RestartBackoff, 200*time.Millisecond)
	def(&c.MaxRestartBackoff, 10*time.Second)
	def(&c.DrainTimeout, 5*time.Second)
	if c.MaxFailures <= 0 {
		c.MaxFailures = 5
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return c, nil
}
