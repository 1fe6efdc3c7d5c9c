package relay

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/colony-live/colony/core/media"
)

// Wire format, version 1. A relay body is a sequence of frames; integers
// are big-endian:
//
//	frame  = type:u8 length:u32 payload[length]
//	header = "CLRY" version:u8 ntracks:u8 track{ntracks}          (type 1, first frame only)
//	track  = codecLen:u8 codec clockRate:u32 width:u32 height:u32
//	         sampleRate:u32 channels:u32
//	         spsLen:u32 sps ppsLen:u32 pps configLen:u32 config
//	unit   = track:u8 flags:u8 pts:i64 dts:i64 [ingest:i64] data    (type 2)
//	         flags: 1 keyframe, 2 ingest present; times in nanoseconds,
//	         ingest as Unix time
//	ping   = empty                                                 (type 3, keepalive)
//	end    = empty                                                 (type 4, clean end of stream)
//
// A body that stops without an end frame was cut, not ended.

// Version is the wire format version carried in the header frame.
const Version = 1

// Limits enforced by the encoder and the decoder.
const (
	// MaxFrameSize bounds a frame's payload (a unit's prefix and data).
	MaxFrameSize = 16 << 20
	// MaxHeaderSize bounds the header frame's payload.
	MaxHeaderSize = 1 << 20
	// MaxTracks bounds the tracks of a stream.
	MaxTracks = 16
	// MaxCodecLen bounds a codec name.
	MaxCodecLen = 32
)

// FrameType is the first byte of a frame.
type FrameType uint8

// The frame types.
const (
	FrameHeader FrameType = 1
	FrameUnit   FrameType = 2
	FramePing   FrameType = 3
	FrameEnd    FrameType = 4
)

var magic = [4]byte{'C', 'L', 'R', 'Y'}

const (
	frameHdrLen  = 5  // type + length
	unitFixedLen = 18 // track + flags + pts + dts
	unitMaxPre   = 26 // with ingest
	readChunk    = 64 << 10
	flagKey      = 1 << 0
	flagIngest   = 1 << 1
	knownFlags   = flagKey | flagIngest
	maxInt32     = math.MaxInt32
	maxDataLen   = MaxFrameSize - unitMaxPre
	trackFixed   = 1 + 5*4 + 3*4 // codecLen, five ints, three lengths
	headerFixed  = len(magic) + 2
)

// Errors of the wire format.
var (
	// ErrMalformed: the bytes are not a valid frame sequence.
	ErrMalformed = errors.New("relay: malformed frame")
	// ErrTooLarge: a frame, a track list or a field exceeds the limits.
	ErrTooLarge = errors.New("relay: frame exceeds limits")
	// ErrVersion: the peer speaks another wire version.
	ErrVersion = errors.New("relay: unsupported wire version")
)

// Encoder writes frames to an io.Writer. It reuses its buffers: writing a
// unit does not allocate. Not safe for concurrent use.
type Encoder struct {
	w       io.Writer
	pre     [frameHdrLen + unitMaxPre]byte
	hdr     []byte
	ntracks int
}

// NewEncoder returns an Encoder writing to w.
func NewEncoder(w io.Writer) *Encoder { return &Encoder{w: w} }

// WriteHeader writes the header frame announcing tracks. It returns the
// bytes written.
func (e *Encoder) WriteHeader(tracks []media.Track) (int, error) {
	if len(tracks) == 0 {
		return 0, fmt.Errorf("%w: no tracks", ErrMalformed)
	}
	if len(tracks) > MaxTracks {
		return 0, fmt.Errorf("%w: %d tracks (max %d)", ErrTooLarge, len(tracks), MaxTracks)
	}
	b := append(e.hdr[:0], 0, 0, 0, 0, 0)
	b = append(b, magic[:]...)
	b = append(b, Version, byte(len(tracks)))
	for i, t := range tracks {
		var err error
		if b, err = appendTrack(b, t); err != nil {
			return 0, fmt.Errorf("track %d: %w", i, err)
		}
	}
	size := len(b) - frameHdrLen
	if size > MaxHeaderSize {
		return 0, fmt.Errorf("%w: header of %d bytes (max %d)", ErrTooLarge, size, MaxHeaderSize)
	}
	b[0] = byte(FrameHeader)
	binary.BigEndian.PutUint32(b[1:frameHdrLen], uint32(size))
	e.hdr = b
	e.ntracks = len(tracks)
	return e.w.Write(b)
}

func appendTrack(b []byte, t media.Track) ([]byte, error) {
	if len(t.Codec) == 0 || len(t.Codec) > MaxCodecLen {
		return b, fmt.Errorf("%w: codec name of %d bytes (1..%d)", ErrMalformed, len(t.Codec), MaxCodecLen)
	}
	b = append(b, byte(len(t.Codec)))
	b = append(b, t.Codec...)
	for _, v := range [...]int{t.ClockRate, t.Width, t.Height, t.SampleRate, t.Channels} {
		if v < 0 || v > maxInt32 {
			return b, fmt.Errorf("%w: track field %d out of range", ErrMalformed, v)
		}
		b = binary.BigEndian.AppendUint32(b, uint32(v))
	}
	for _, p := range [...][]byte{t.SPS, t.PPS, t.Config} {
		if len(p) > MaxHeaderSize {
			return b, fmt.Errorf("%w: parameter set of %d bytes", ErrTooLarge, len(p))
		}
		b = binary.BigEndian.AppendUint32(b, uint32(len(p)))
		b = append(b, p...)
	}
	return b, nil
}

// WriteUnit writes one unit frame. It returns the bytes written.
func (e *Encoder) WriteUnit(u *media.Unit) (int, error) {
	if u.Track < 0 || u.Track >= MaxTracks || (e.ntracks > 0 && u.Track >= e.ntracks) {
		return 0, fmt.Errorf("%w: unit of unknown track %d", ErrMalformed, u.Track)
	}
	if len(u.Data) > maxDataLen {
		return 0, fmt.Errorf("%w: unit of %d bytes (max %d)", ErrTooLarge, len(u.Data), maxDataLen)
	}
	p := e.pre[:frameHdrLen+unitFixedLen]
	var flags byte
	if u.Key {
		flags |= flagKey
	}
	if !u.Ingest.IsZero() {
		flags |= flagIngest
		p = e.pre[:frameHdrLen+unitMaxPre]
		binary.BigEndian.PutUint64(p[frameHdrLen+unitFixedLen:], uint64(u.Ingest.UnixNano()))
	}
	p[0] = byte(FrameUnit)
	binary.BigEndian.PutUint32(p[1:], uint32(len(p)-frameHdrLen+len(u.Data)))
	p[5] = byte(u.Track)
	p[6] = flags
	binary.BigEndian.PutUint64(p[7:], uint64(u.PTS))
	binary.BigEndian.PutUint64(p[15:], uint64(u.DTS))
	n, err := e.w.Write(p)
	if err != nil || len(u.Data) == 0 {
		return n, err
	}
	m, err := e.w.Write(u.Data)
	return n + m, err
}

// WritePing writes a keepalive frame.
func (e *Encoder) WritePing() (int, error) { return e.writeEmpty(FramePing) }

// WriteEnd writes the end-of-stream frame.
func (e *Encoder) WriteEnd() (int, error) { return e.writeEmpty(FrameEnd) }

func (e *Encoder) writeEmpty(t FrameType) (int, error) {
	p := e.pre[:frameHdrLen]
	p[0] = byte(t)
	binary.BigEndian.PutUint32(p[1:], 0)
	return e.w.Write(p)
}

// Decoder reads frames from a bufio.Reader. Each unit it returns is freshly
// allocated and owned by the caller. Memory use is bounded by the limits and
// by the bytes actually received: a frame that announces more than it
// carries costs no more than what arrived. Not safe for concurrent use.
type Decoder struct {
	r       *bufio.Reader
	scratch [unitMaxPre]byte
	ntracks int
}

// NewDecoder returns a Decoder reading from r.
func NewDecoder(r *bufio.Reader) *Decoder { return &Decoder{r: r} }

// ReadHeader reads the header frame, which must come first.
func (d *Decoder) ReadHeader() ([]media.Track, error) {
	if d.ntracks > 0 {
		return nil, fmt.Errorf("%w: header already read", ErrMalformed)
	}
	t, size, err := d.frameHeader()
	if err != nil {
		return nil, err
	}
	if t != FrameHeader {
		return nil, fmt.Errorf("%w: first frame has type %d, not a header", ErrMalformed, t)
	}
	if size > MaxHeaderSize {
		return nil, fmt.Errorf("%w: header of %d bytes (max %d)", ErrTooLarge, size, MaxHeaderSize)
	}
	if size < headerFixed {
		return nil, fmt.Errorf("%w: header of %d bytes", ErrMalformed, size)
	}
	// Check magic and version before reading a payload of unknown meaning.
	pre := d.scratch[:headerFixed]
	if _, err := io.ReadFull(d.r, pre); err != nil {
		return nil, unexpected(err)
	}
	if [4]byte(pre[:4]) != magic {
		return nil, fmt.Errorf("%w: bad magic %q", ErrMalformed, pre[:4])
	}
	if pre[4] != Version {
		return nil, fmt.Errorf("%w: version %d (want %d)", ErrVersion, pre[4], Version)
	}
	n := int(pre[5])
	if n == 0 {
		return nil, fmt.Errorf("%w: no tracks", ErrMalformed)
	}
	if n > MaxTracks {
		return nil, fmt.Errorf("%w: %d tracks (max %d)", ErrTooLarge, n, MaxTracks)
	}
	rest := size - headerFixed
	if rest < n*trackFixed {
		return nil, fmt.Errorf("%w: header too short for %d tracks", ErrMalformed, n)
	}
	payload, err := d.readPayload(rest)
	if err != nil {
		return nil, err
	}
	c := cursor{b: payload}
	tracks := make([]media.Track, n)
	for i := range tracks {
		tracks[i] = c.track()
		if c.err != nil {
			return nil, fmt.Errorf("track %d: %w", i, c.err)
		}
	}
	if len(c.b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing header bytes", ErrMalformed, len(c.b))
	}
	d.ntracks = n
	return tracks, nil
}

// Next reads the next frame after the header. For FrameUnit it returns the
// unit; FramePing and FrameEnd carry none. It returns io.EOF when the input
// ends between frames (without an end frame), io.ErrUnexpectedEOF inside one.
func (d *Decoder) Next() (FrameType, *media.Unit, error) {
	if d.ntracks == 0 {
		return 0, nil, fmt.Errorf("%w: frame before header", ErrMalformed)
	}
	t, size, err := d.frameHeader()
	if err != nil {
		return 0, nil, err
	}
	switch t {
	case FramePing, FrameEnd:
		if size != 0 {
			return 0, nil, fmt.Errorf("%w: frame type %d with %d payload bytes", ErrMalformed, t, size)
		}
		return t, nil, nil
	case FrameUnit:
		u, err := d.unit(size)
		if err != nil {
			return 0, nil, err
		}
		return FrameUnit, u, nil
	case FrameHeader:
		return 0, nil, fmt.Errorf("%w: second header", ErrMalformed)
	default:
		return 0, nil, fmt.Errorf("%w: unknown frame type %d", ErrMalformed, t)
	}
}

func (d *Decoder) frameHeader() (FrameType, int, error) {
	h := d.scratch[:frameHdrLen]
	if _, err := io.ReadFull(d.r, h); err != nil {
		return 0, 0, err // io.EOF between frames, io.ErrUnexpectedEOF inside
	}
	size := binary.BigEndian.Uint32(h[1:])
	if size > MaxFrameSize {
		return 0, 0, fmt.Errorf("%w: frame of %d bytes (max %d)", ErrTooLarge, size, MaxFrameSize)
	}
	return FrameType(h[0]), int(size), nil
}

func (d *Decoder) unit(size int) (*media.Unit, error) {
	if size < unitFixedLen {
		return nil, fmt.Errorf("%w: unit frame of %d bytes", ErrMalformed, size)
	}
	p := d.scratch[:unitFixedLen]
	if _, err := io.ReadFull(d.r, p); err != nil {
		return nil, unexpected(err)
	}
	track, flags := int(p[0]), p[1]
	if track >= d.ntracks {
		return nil, fmt.Errorf("%w: unit of track %d, stream has %d", ErrMalformed, track, d.ntracks)
	}
	if flags&^knownFlags != 0 {
		return nil, fmt.Errorf("%w: unknown unit flags %#x", ErrMalformed, flags)
	}
	u := &media.Unit{
		Track: track,
		Key:   flags&flagKey != 0,
		PTS:   time.Duration(binary.BigEndian.Uint64(p[2:])),
		DTS:   time.Duration(binary.BigEndian.Uint64(p[10:])),
	}
	rest := size - unitFixedLen
	if flags&flagIngest != 0 {
		if rest < 8 {
			return nil, fmt.Errorf("%w: unit frame too short for its ingest time", ErrMalformed)
		}
		q := d.scratch[unitFixedLen:unitMaxPre]
		if _, err := io.ReadFull(d.r, q); err != nil {
			return nil, unexpected(err)
		}
		u.Ingest = time.Unix(0, int64(binary.BigEndian.Uint64(q)))
		rest -= 8
	}
	if rest > 0 {
		data, err := d.readPayload(rest)
		if err != nil {
			return nil, err
		}
		u.Data = data
	}
	return u, nil
}

// readPayload reads n bytes, growing its buffer as bytes arrive so that a
// frame announcing more than it carries does not allocate its full size.
func (d *Decoder) readPayload(n int) ([]byte, error) {
	if n <= readChunk {
		b := make([]byte, n)
		if _, err := io.ReadFull(d.r, b); err != nil {
			return nil, unexpected(err)
		}
		return b, nil
	}
	b := make([]byte, 0, readChunk)
	for len(b) < n {
		if len(b) == cap(b) {
			nb := make([]byte, len(b), min(n, 2*cap(b)))
			copy(nb, b)
			b = nb
		}
		m, err := io.ReadFull(d.r, b[len(b):cap(b)])
		b = b[:len(b)+m]
		if err != nil {
			return nil, unexpected(err)
		}
	}
	return b, nil
}

// unexpected maps an end of input inside a frame to io.ErrUnexpectedEOF.
func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// cursor parses a header payload; the first failure sticks in err.
type cursor struct {
	b   []byte
	err error
}

func (c *cursor) take(n int) []byte {
	if c.err != nil {
		return nil
	}
	if n > len(c.b) {
		c.err = fmt.Errorf("%w: header truncated", ErrMalformed)
		return nil
	}
	p := c.b[:n:n]
	c.b = c.b[n:]
	return p
}

func (c *cursor) int32() int {
	p := c.take(4)
	if p == nil {
		return 0
	}
	v := binary.BigEndian.Uint32(p)
	if v > maxInt32 {
		c.err = fmt.Errorf("%w: track field %d out of range", ErrMalformed, v)
		return 0
	}
	return int(v)
}

// bytes returns a length-prefixed field as its own slice, nil when empty.
func (c *cursor) bytes() []byte {
	n := c.int32()
	if c.err != nil || n == 0 {
		return nil
	}
	p := c.take(n)
	if p == nil {
		return nil
	}
	return append([]byte(nil), p...)
}

func (c *cursor) track() media.Track {
	var t media.Track
	n := 0
	if p := c.take(1); p != nil {
		n = int(p[0])
	}
	if c.err == nil && (n == 0 || n > MaxCodecLen) {
		c.err = fmt.Errorf("%w: codec name of %d bytes (1..%d)", ErrMalformed, n, MaxCodecLen)
	}
	t.Codec = media.Codec(c.take(n))
	t.ClockRate = c.int32()
	t.Width = c.int32()
	t.Height = c.int32()
	t.SampleRate = c.int32()
	t.Channels = c.int32()
	t.SPS = c.bytes()
	t.PPS = c.bytes()
	t.Config = c.bytes()
	return t
}
