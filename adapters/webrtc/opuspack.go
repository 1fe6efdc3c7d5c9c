package webrtc

import (
	"time"

	"github.com/colony-live/colony/core/media"
)

// Opus packing: with a large audience (Config.AudioPackViewers), a
// stream's Opus frames are sent in packets of several consecutive frames
// (RFC 6716 section 3.2.5, "code 3"), made once per stream for all its
// viewers. Every packet sent is a message the machine pays for whatever
// its size, and at 20 ms an audio track is 50 packets a second per viewer
// against the video's 30 frames; three frames a packet make it 17, for
// more audio latency (40 ms at the server, and a browser's jitter buffer
// grows with the packets). The frames themselves are not touched: a
// decoder gets the same bits, and decodes the same audio.

const (
	// opusMaxFrameBytes is the largest Opus frame (RFC 6716 R2).
	opusMaxFrameBytes = 1275
	// opusMaxPacket is the longest Opus packet (RFC 6716 R5).
	opusMaxPacket = 120 * time.Millisecond
)

// opusFrameDuration is the frame duration of a TOC byte's configuration
// (RFC 6716 table 2).
func opusFrameDuration(toc byte) time.Duration {
	c := toc >> 3
	switch {
	case c < 12: // SILK: 10, 20, 40, 60 ms
		return [4]time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond, 60 * time.Millisecond}[c%4]
	case c < 16: // hybrid: 10, 20 ms
		return [2]time.Duration{10 * time.Millisecond, 20 * time.Millisecond}[c%2]
	default: // CELT: 2.5, 5, 10, 20 ms
		return [4]time.Duration{2500 * time.Microsecond, 5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond}[c%4]
	}
}

// opusFrame returns the duration of a single-frame Opus packet (code 0);
// ok is false for any other packet: empty, oversized, or of two or more
// frames (those are sent as they are).
func opusFrame(pkt []byte) (d time.Duration, ok bool) {
	if len(pkt) == 0 || len(pkt) > 1+opusMaxFrameBytes || pkt[0]&3 != 0 {
		return 0, false
	}
	return opusFrameDuration(pkt[0]), true
}

// appendPacked appends to dst the code 3 packet of pkts: single-frame
// packets of one TOC byte, at most 48 of them and 120 ms in all. The
// frames go in as they are; their lengths are listed unless they are all
// equal (RFC 6716 section 3.2.5).
func appendPacked(dst []byte, pkts [][]byte) []byte {
	cbr := true
	for _, p := range pkts[1:] {
		cbr = cbr && len(p) == len(pkts[0])
	}
	count := byte(len(pkts))
	if !cbr {
		count |= 0x80 // VBR: the frames' lengths follow, all but the last
	}
	dst = append(dst, pkts[0][0]|3, count)
	if !cbr {
		for _, p := range pkts[:len(pkts)-1] {
			n := len(p) - 1
			if n < 252 {
				dst = append(dst, byte(n))
				continue
			}
			b0 := 252 + n&3
			dst = append(dst, byte(b0), byte((n-b0)>>2))
		}
	}
	for _, p := range pkts {
		dst = append(dst, p[1:]...)
	}
	return dst
}

// opusPacker packs one Opus track's frames for a fan-out: consecutive
// single-frame packets of one TOC byte, up to maxDur of audio and
// maxBytes of payload, go out as one packet. It holds frames until a
// packet is full, so a frame waits at most maxDur less its own duration.
type opusPacker struct {
	maxDur   time.Duration
	maxBytes int
	held     []*media.Unit
	dur      time.Duration // of the frames held
	size     int           // the packet the frames held would make, at most
	pkts     [][]byte      // scratch for appendPacked
}

func newOpusPacker(maxDur time.Duration, maxBytes int) *opusPacker {
	return &opusPacker{maxDur: min(maxDur, opusMaxPacket), maxBytes: maxBytes}
}

// push takes the track's next unit and appends to out what is to be sent
// now, in order. With pack false (the audience is small) it sends what it
// holds, then u. A unit that cannot be packed (not a single frame, a
// different TOC byte, not following the frames held in time) sends what
// is held before it.
func (p *opusPacker) push(u *media.Unit, pack bool, out []*media.Unit) []*media.Unit {
	d, ok := opusFrame(u.Data)
	if !pack || !ok || d >= p.maxDur {
		return append(p.flush(out), u)
	}
	if n := len(p.held); n > 0 {
		last := p.held[n-1]
		gap := u.PTS - (last.PTS + d)
		if u.Data[0] != last.Data[0] || gap < -d/4 || gap > d/4 || p.dur+d > p.maxDur || p.size+len(u.Data)+1 > p.maxBytes {
			out = p.flush(out)
		}
	}
	if len(p.held) == 0 {
		p.size = 2 // the TOC and frame count bytes
	}
	p.held = append(p.held, u)
	p.dur += d
	p.size += len(u.Data) + 1 // the frame, and at most two length bytes for the TOC byte it loses
	if p.dur+d > p.maxDur {
		out = p.flush(out)
	}
	return out
}

// flush appends what is held to out, as one packet, and holds nothing.
func (p *opusPacker) flush(out []*media.Unit) []*media.Unit {
	switch len(p.held) {
	case 0:
		return out
	case 1:
		out = append(out, p.held[0])
	default:
		p.pkts = p.pkts[:0]
		for _, h := range p.held {
			p.pkts = append(p.pkts, h.Data)
		}
		first, last := p.held[0], p.held[len(p.held)-1]
		out = append(out, &media.Unit{Track: first.Track, PTS: first.PTS, DTS: first.DTS, Key: true,
			Data: appendPacked(make([]byte, 0, p.size), p.pkts), Ingest: last.Ingest})
		clear(p.pkts)
	}
	p.drop()
	return out
}

// drop forgets what is held (the fan-out skipped ahead).
func (p *opusPacker) drop() {
	clear(p.held)
	p.held, p.dur, p.size = p.held[:0], 0, 0
}
