package client

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/pion/rtp"
)

// errBadPayload: an H.264 RTP payload the client cannot read.
var errBadPayload = errors.New("malformed H.264 RTP payload")

// AccessUnit is one H.264 picture received.
type AccessUnit struct {
	// NALUs are the access unit's NAL units, without start codes.
	NALUs [][]byte
	// Key reports whether it holds an IDR picture.
	Key bool
	// RTPTimestamp is its RTP timestamp (90 kHz clock).
	RTPTimestamp uint32
	// PTS is its presentation time since the first access unit received,
	// from the RTP timestamps.
	PTS time.Duration
	// Arrival is when its last packet arrived.
	Arrival time.Time
}

// AnnexB returns the access unit in Annex-B form (4-byte start codes).
func (au AccessUnit) AnnexB() []byte { return annexB(nil, au.NALUs) }

// h264Assembler rebuilds access units from in-order RTP packets (single
// NAL unit, STAP-A and FU-A packets, RFC 6184). An access unit ends at
// the marker bit or at a new timestamp. One that lost packets is dropped,
// and so is what follows until the next complete IDR access unit, as a
// decoder would need.
type h264Assembler struct {
	emit func(AccessUnit)

	cur      AccessUnit
	open     bool // cur has packets
	corrupt  bool
	fu       []byte // the NAL unit an FU-A is rebuilding
	inFU     bool
	needKey  bool
	clock    rtpClock
	dropped  int // access units dropped (incomplete or before a keyframe)
	complete int // access units complete (emitted or not)
	firstKey *bool
}

func newH264Assembler(emit func(AccessUnit)) *h264Assembler {
	return &h264Assembler{emit: emit, needKey: true}
}

// push takes the next packet in sequence; lost is the number of packets
// missing just before it.
func (a *h264Assembler) push(p *rtp.Packet, lost int, now time.Time) {
	if lost > 0 {
		a.corrupt = a.corrupt || a.open
		a.inFU, a.fu = false, nil
	}
	if a.open && p.Timestamp != a.cur.RTPTimestamp {
		a.finish()
	}
	if !a.open {
		a.cur = AccessUnit{RTPTimestamp: p.Timestamp}
		a.open = true
		a.corrupt = lost > 0
	}
	if err := a.payload(p.Payload); err != nil {
		a.corrupt = true
	}
	a.cur.Arrival = now
	if p.Marker {
		a.finish()
	}
}

func (a *h264Assembler) payload(b []byte) error {
	if len(b) == 0 {
		return nil // padding
	}
	switch t := b[0] & 0x1f; {
	case t >= 1 && t <= 23:
		a.inFU = false
		a.add(b)
	case t == 24: // STAP-A
		a.inFU = false
		for b = b[1:]; len(b) > 0; {
			if len(b) < 2 {
				return errBadPayload
			}
			n := int(binary.BigEndian.Uint16(b))
			if n == 0 || len(b) < 2+n {
				return errBadPayload
			}
			a.add(b[2 : 2+n])
			b = b[2+n:]
		}
	case t == 28: // FU-A
		if len(b) < 2 {
			return errBadPayload
		}
		start, end := b[1]&0x80 != 0, b[1]&0x40 != 0
		if start {
			a.fu = append(a.fu[:0:0], b[0]&0xe0|b[1]&0x1f)
			a.inFU = true
		} else if !a.inFU {
			return errBadPayload // its start was lost
		}
		a.fu = append(a.fu, b[2:]...)
		if end {
			a.add(a.fu)
			a.fu, a.inFU = nil, false
		}
	default:
		return errBadPayload // STAP-B, MTAP, FU-B: not used by WebRTC
	}
	return nil
}

func (a *h264Assembler) add(n []byte) {
	if n[0]&0x1f == naluAUD {
		return
	}
	a.cur.NALUs = append(a.cur.NALUs, append([]byte(nil), n...))
}

// finish ends the current access unit and emits it if it is usable.
func (a *h264Assembler) finish() {
	au, corrupt := a.cur, a.corrupt || a.inFU || len(a.cur.NALUs) == 0
	a.open, a.corrupt, a.inFU, a.fu = false, false, false, nil
	a.cur = AccessUnit{}
	if corrupt {
		a.dropped++
		a.needKey = true
		return
	}
	a.complete++
	au.Key = hasIDR(au.NALUs)
	if a.firstKey == nil {
		k := au.Key
		a.firstKey = &k
	}
	if a.needKey && !au.Key {
		a.dropped++
		return
	}
	a.needKey = false
	au.PTS = a.clock.since(au.RTPTimestamp)
	a.emit(au)
}

// rtpClock unwraps 90 kHz RTP timestamps into durations since the first one.
type rtpClock struct {
	started bool
	last    uint32
	ext     int64
}

func (c *rtpClock) since(ts uint32) time.Duration {
	if !c.started {
		c.started, c.last = true, ts
		return 0
	}
	c.ext += int64(int32(ts - c.last))
	c.last = ts
	return time.Duration(c.ext * int64(time.Second) / 90000)
}
