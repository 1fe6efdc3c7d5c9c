package hls

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/bluenviron/gohlslib/v2"

	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/core/stream"
)

// The HLS variants the server can produce.
const (
	// VariantLowLatency is Low-Latency HLS: fMP4 segments split into parts,
	// blocking playlist reloads and preload hints. Plain HLS players play it too.
	VariantLowLatency = "lowlatency"
	// VariantFMP4 is plain HLS with fMP4 segments.
	VariantFMP4 = "fmp4"
	// VariantMPEGTS is plain HLS with MPEG-TS segments, for old players
	// (H.264 and AAC only).
	VariantMPEGTS = "mpegts"
)

// How the audio of a stream whose audio is Opus (a WebRTC publication) is
// carried.
const (
	// AudioAuto (default) carries the stream's AAC companion when Companions
	// gives one in time, else the Opus audio itself (fMP4 variants only).
	AudioAuto = "auto"
	// AudioAAC carries the AAC companion, or no audio at all.
	AudioAAC = "aac"
	// AudioOpus carries the Opus audio as it is: some players (Safari and
	// iOS among them) cannot play it.
	AudioOpus = "opus"
)

// AACCompanions gives the AAC companion of a stream whose audio is Opus
// (the engine implements it with the transcoder plugin).
type AACCompanions interface {
	// AACFor returns a stream with one AAC track: key's audio re-encoded,
	// with key's timestamps, ending with key's stream.
	AACFor(ctx context.Context, key stream.Key) (*media.Stream, error)
}

// ErrInvalidConfig is returned (wrapped) by New for an unusable Config.
var ErrInvalidConfig = errors.New("invalid HLS configuration")

// Config configures the HLS server. The zero value uses the defaults.
type Config struct {
	// Variant is VariantLowLatency (default), VariantFMP4 or VariantMPEGTS.
	Variant string
	// SegmentCount is how many segments each playlist keeps (default 7;
	// at least 7 for Low-Latency HLS, 3 otherwise).
	SegmentCount int
	// SegmentMinDuration is the shortest segment; a segment ends at the
	// first keyframe after it (default 1s).
	SegmentMinDuration time.Duration
	// PartMinDuration is the shortest Low-Latency HLS part (default 120ms:
	// 4 frames at 30 or 60 fps, 3 at 25; a player starting PART-HOLD-BACK,
	// three parts, behind the live edge plays about 0.47 s behind the
	// camera).
	PartMinDuration time.Duration
	// Directory is where the muxer (gohlslib) keeps its copy of each
	// stream's segments, in a subdirectory per stream, and requests are
	// served from an in-memory copy. Empty (default): segments are kept in
	// RAM once, at their exact size, and served from there.
	Directory string
	// SeparateAudio, in the fMP4 variants (Low-Latency HLS included),
	// lists audio as its own media playlist (an EXT-X-MEDIA rendition).
	// False (default): audio rides in the video's segments and parts, one
	// media playlist, so players make half the requests. MPEG-TS always
	// muxes.
	SeparateAudio bool
	// Logger receives the server's logs (default: discarded).
	Logger *slog.Logger
	// AllowOrigin is the Access-Control-Allow-Origin answered to browsers
	// (default "*").
	AllowOrigin string
	// ReadyTimeout bounds how long a playlist request waits for a stream to
	// start and produce its first segments, and how long a blocking
	// Low-Latency HLS request waits for the part it asks for (default 10s).
	ReadyTimeout time.Duration
	// Audio is AudioAuto (default), AudioAAC or AudioOpus: what HLS
	// carries of a stream whose audio is Opus.
	Audio string
	// Companions gives AAC companions of Opus audio; nil: none, Opus
	// audio is carried as it is (and left out of MPEG-TS).
	Companions AACCompanions
	// CompanionTimeout bounds the wait for a stream's AAC companion when
	// its muxer starts (default 5s); the muxer then starts without it.
	CompanionTimeout time.Duration
	// Renditions lists the transcoded renditions of a stream for
	// /{app}/streams/{id}_adaptive.m3u8 (default nil: no adaptive playlists,
	// they answer 404).
	Renditions Renditions
}

func (c Config) withDefaults() Config {
	if c.Variant == "" {
		c.Variant = VariantLowLatency
	}
	if c.SegmentCount == 0 {
		c.SegmentCount = 7
	}
	if c.SegmentMinDuration == 0 {
		c.SegmentMinDuration = time.Second
	}
	if c.PartMinDuration == 0 {
		c.PartMinDuration = 120 * time.Millisecond
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.AllowOrigin == "" {
		c.AllowOrigin = "*"
	}
	if c.ReadyTimeout == 0 {
		c.ReadyTimeout = 10 * time.Second
	}
	if c.Audio == "" {
		c.Audio = AudioAuto
	}
	if c.CompanionTimeout == 0 {
		c.CompanionTimeout = 5 * time.Second
	}
	return c
}

// validate checks a Config that has its defaults applied.
func (c Config) validate() error {
	minSegments := 3
	switch c.Variant {
	case VariantLowLatency:
		minSegments = 7
	case VariantFMP4, VariantMPEGTS:
	default:
		return fmt.Errorf("%w: variant %q (want %q, %q or %q)",
			ErrInvalidConfig, c.Variant, VariantLowLatency, VariantFMP4, VariantMPEGTS)
	}
	switch c.Audio {
	case AudioAuto, AudioAAC, AudioOpus:
	default:
		return fmt.Errorf("%w: audio %q (want %q, %q or %q)", ErrInvalidConfig, c.Audio, AudioAuto, AudioAAC, AudioOpus)
	}
	switch {
	case c.SegmentCount < minSegments:
		return fmt.Errorf("%w: the %s variant needs at least %d segments, not %d",
			ErrInvalidConfig, c.Variant, minSegments, c.SegmentCount)
	case c.SegmentMinDuration < 0, c.PartMinDuration < 0, c.ReadyTimeout < 0, c.CompanionTimeout < 0:
		return fmt.Errorf("%w: negative duration", ErrInvalidConfig)
	}
	return nil
}

// muxerVariant maps the validated variant name to gohlslib's.
func (c Config) muxerVariant() gohlslib.MuxerVariant {
	switch c.Variant {
	case VariantFMP4:
		return gohlslib.MuxerVariantFMP4
	case VariantMPEGTS:
		return gohlslib.MuxerVariantMPEGTS
	default:
		return gohlslib.MuxerVariantLowLatency
	}
}
