package client

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// maxOggPacket bounds one Ogg packet.
const maxOggPacket = 1 << 20

// errBadOgg: the audio input is not an Ogg stream the client can read.
var errBadOgg = errors.New("malformed Ogg stream")

// oggReader returns the packets of the first logical stream of an Ogg
// file (RFC 3533), following the lacing values, so that pages holding
// several packets (ffmpeg's default one-second pages) and packets spanning
// pages are read right. CRCs are not checked.
type oggReader struct {
	r       io.Reader
	serial  uint32
	started bool
	partial []byte   // a packet continued on the next page
	queue   [][]byte // complete packets of the current page
	hdr     [27]byte
	lacing  [255]byte
}

func newOggReader(r io.Reader) *oggReader { return &oggReader{r: r} }

// next returns the next packet; io.EOF at the end.
func (o *oggReader) next() ([]byte, error) {
	for len(o.queue) == 0 {
		if err := o.page(); err != nil {
			return nil, err
		}
	}
	p := o.queue[0]
	o.queue = o.queue[1:]
	return p, nil
}

// page reads one page and queues its complete packets.
func (o *oggReader) page() error {
	if _, err := io.ReadFull(o.r, o.hdr[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("%w: truncated page header", errBadOgg)
		}
		return err // io.EOF: the end
	}
	if !bytes.Equal(o.hdr[:4], []byte("OggS")) || o.hdr[4] != 0 {
		return fmt.Errorf("%w: no page capture pattern", errBadOgg)
	}
	serial := binary.LittleEndian.Uint32(o.hdr[14:18])
	n := int(o.hdr[26])
	if _, err := io.ReadFull(o.r, o.lacing[:n]); err != nil {
		return fmt.Errorf("%w: truncated segment table", errBadOgg)
	}
	total := 0
	for _, l := range o.lacing[:n] {
		total += int(l)
	}
	body := make([]byte, total)
	if _, err := io.ReadFull(o.r, body); err != nil {
		return fmt.Errorf("%w: truncated page", errBadOgg)
	}
	if !o.started {
		o.serial, o.started = serial, true
	}
	if serial != o.serial {
		return nil // another logical stream
	}
	if o.hdr[5]&0x01 == 0 { // not a continuation: drop a dangling packet
		o.partial = nil
	}
	off := 0
	for _, l := range o.lacing[:n] {
		o.partial = append(o.partial, body[off:off+int(l)]...)
		off += int(l)
		if len(o.partial) > maxOggPacket {
			return fmt.Errorf("%w: packet over %d bytes", errBadOgg, maxOggPacket)
		}
		if l < 255 {
			o.queue = append(o.queue, o.partial)
			o.partial = nil
		}
	}
	return nil
}

// opusReader returns the audio packets of an Ogg Opus stream (RFC 7845),
// skipping its OpusHead and OpusTags headers.
type opusReader struct {
	ogg     *oggReader
	headers int
}

func newOpusReader(r io.Reader) *opusReader { return &opusReader{ogg: newOggReader(r)} }

// next returns the next Opus packet and its duration; io.EOF at the end.
func (o *opusReader) next() ([]byte, int, error) {
	for {
		p, err := o.ogg.next()
		if err != nil {
			return nil, 0, err
		}
		if o.headers < 2 {
			want := "OpusHead"
			if o.headers == 1 {
				want = "OpusTags"
			}
			if !bytes.HasPrefix(p, []byte(want)) {
				return nil, 0, fmt.Errorf("%w: expected %s", errBadOgg, want)
			}
			o.headers++
			continue
		}
		samples := opusSamples(p)
		if samples == 0 {
			continue // empty or malformed packet
		}
		return p, samples, nil
	}
}

// opusSamples is the duration of an Opus packet in 48 kHz samples, from
// its TOC byte (RFC 6716 3.1); 0 when the packet is malformed.
func opusSamples(p []byte) int {
	if len(p) == 0 {
		return 0
	}
	config := int(p[0] >> 3)
	var frame int // in 48 kHz samples
	switch {
	case config < 12: // SILK: 10, 20, 40, 60 ms
		frame = []int{480, 960, 1920, 2880}[config%4]
	case config < 16: // hybrid: 10, 20 ms
		frame = []int{480, 960}[config%2]
	default: // CELT: 2.5, 5, 10, 20 ms
		frame = []int{120, 240, 480, 960}[config%4]
	}
	frames := 1
	switch p[0] & 0x03 {
	case 1, 2:
		frames = 2
	case 3:
		if len(p) < 2 {
			return 0
		}
		frames = int(p[1] & 0x3f)
	}
	if d := frame * frames; d <= 5760 { // at most 120 ms
		return d
	}
	return 0
}
