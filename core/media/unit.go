// Package media holds the protocol-neutral media model (tracks and access
// units) and the per-stream fan-out from one writer to many readers. It does
// no I/O.
package media

import "time"

// Codec names a media codec.
type Codec string

// The codecs Colony carries. Payload framing per codec is documented on Unit.
const (
	H264 Codec = "H264"
	H265 Codec = "H265"
	VP8  Codec = "VP8"
	AAC  Codec = "AAC"
	Opus Codec = "Opus"
)

// IsVideo reports whether c is a video codec.
func (c Codec) IsVideo() bool { return c == H264 || c == H265 || c == VP8 }

// Track describes one elementary stream of a media.Stream. Tracks are fixed
// when the stream starts.
type Track struct {
	Codec Codec
	// ClockRate of the source timestamps (90000 for video, the sample rate for audio).
	ClockRate int
	// H.264 parameter sets, without start codes or length prefixes.
	SPS, PPS []byte
	// Config is the AAC AudioSpecificConfig.
	Config []byte
	// Video size, when known.
	Width, Height int
	// Audio format.
	SampleRate, Channels int
}

// IsVideo reports whether the track carries video.
func (t Track) IsVideo() bool { return t.Codec.IsVideo() }

// Unit is one access unit: a video frame or an audio frame, with timestamps
// relative to the start of the stream. Units are immutable once written to a
// Stream: readers share them.
//
// Data framing: H264 and H265 are AVCC (each NAL unit prefixed by its 4-byte
// big-endian length); AAC is one raw frame (no ADTS header); Opus and VP8 are
// one packet or frame.
type Unit struct {
	Track int // index into the stream's tracks
	PTS   time.Duration
	DTS   time.Duration
	Key   bool // a video keyframe (IDR); audio units are always Key
	Data  []byte
	// Ingest is the wall-clock time the unit entered the server, for
	// latency measurement. Zero when unknown.
	Ingest time.Time
}
