package main

import "time"

// H.264 RTP payload structures (RFC 6184).
const (
	rtpSTAPA = 24
	rtpFUA   = 28
)

// inspectRTPPayload reads what one H.264 RTP payload says about its access
// unit, without depacketizing: slices' types and the stamp SEI (which is
// small enough never to be fragmented).
func inspectRTPPayload(p []byte) auInfo {
	var a auInfo
	if len(p) == 0 {
		return a
	}
	switch t := p[0] & 0x1f; {
	case t >= 1 && t <= 23:
		a.inspect(p)
	case t == rtpSTAPA:
		for b := p[1:]; len(b) >= 2; {
			n := int(b[0])<<8 | int(b[1])
			b = b[2:]
			if n > len(b) {
				break
			}
			a.inspect(b[:n])
			b = b[n:]
		}
	case t == rtpFUA:
		if len(p) >= 2 && p[1]&0x80 != 0 && p[1]&0x1f == naluTypeIDR {
			a.key = true
		}
	}
	return a
}

// startsWithSPS reports whether an H.264 RTP payload begins with an SPS,
// as the first packet of a keyframe sent by a server does.
func startsWithSPS(p []byte) bool {
	if len(p) == 0 {
		return false
	}
	switch p[0] & 0x1f {
	case naluTypeSPS:
		return true
	case rtpSTAPA:
		return len(p) >= 4 && p[3]&0x1f == naluTypeSPS
	}
	return false
}

const asmRing = 1024 // packets held while a frame is incomplete

type pktMeta struct {
	used   bool
	seq    uint16
	marker bool
	read   time.Time // handed over by the RTP stack
	sock   time.Time // reached the socket (read if not known)
	info   auInfo
}

// assembled is a complete video frame. Its last packet is the one handed
// over last, the one that completed it.
type assembled struct {
	display time.Time // when its last packet was handed over
	arrival time.Time // when its last packet reached the socket, else display
	info    auInfo
}

// frameAssembler puts RTP packets of H.264 back into frames, the way a
// receiver's jitter buffer does: a frame is complete when every packet
// from the one after the previous frame's marker up to its own marker has
// arrived (retransmissions included). A gap that lasts longer than maxWait
// drops the frames before it, and then frames are not decodable until the
// next keyframe.
type frameAssembler struct {
	maxWait time.Duration

	ring     [asmRing]pktMeta
	synced   bool
	next     uint16 // first packet of the next frame
	high     uint16 // highest sequence number held
	gapSince time.Time
	waitKey  bool
	dropped  int // frames given up
}

func newFrameAssembler(maxWait time.Duration) *frameAssembler {
	return &frameAssembler{maxWait: maxWait, waitKey: true}
}

// push adds a packet, handed over at now, which reached the socket at sock
// (zero: not known), and appends the decodable frames it completes to out.
// needKey is true when frames were dropped and a keyframe should be asked
// for (PLI).
func (a *frameAssembler) push(seq uint16, marker bool, payload []byte, now, sock time.Time, out []assembled) (_ []assembled, needKey bool) {
	if !a.synced {
		switch {
		case startsWithSPS(payload):
			a.synced, a.next, a.high = true, seq, seq
		case marker:
			a.synced, a.next, a.high = true, seq+1, seq
			return out, false
		default:
			return out, false
		}
	}
	d := int(int16(seq - a.next))
	if d < 0 {
		return out, false // a late copy of a packet already used or given up
	}
	if d >= asmRing {
		a.reset()
		a.dropped++
		return a.push(seq, marker, payload, now, sock, out)
	}
	slot := &a.ring[seq%asmRing]
	if slot.used && slot.seq == seq {
		return out, false
	}
	if sock.IsZero() {
		sock = now
	}
	*slot = pktMeta{used: true, seq: seq, marker: marker, read: now, sock: sock, info: inspectRTPPayload(payload)}
	if int16(seq-a.high) > 0 {
		a.high = seq
	}
	for {
		end, complete, gap := a.scan()
		if complete {
			out = a.emit(end, out)
			continue
		}
		if !gap {
			a.gapSince = time.Time{}
			return out, needKey
		}
		if a.gapSince.IsZero() {
			a.gapSince = now
		}
		if now.Sub(a.gapSince) <= a.maxWait {
			return out, needKey
		}
		if !a.skipGap() {
			return out, needKey
		}
		a.dropped++
		a.waitKey, needKey = true, true
	}
}

// scan walks from next: complete means packets next..end are all there and
// end has the marker; gap means a packet is missing before the highest one.
func (a *frameAssembler) scan() (end uint16, complete, gap bool) {
	for s := a.next; ; s++ {
		m := &a.ring[s%asmRing]
		if !m.used || m.seq != s {
			return 0, false, int16(a.high-s) > 0
		}
		if m.marker {
			return s, true, false
		}
		if s == a.high {
			return 0, false, false
		}
	}
}

// emit releases the frame next..end.
func (a *frameAssembler) emit(end uint16, out []assembled) []assembled {
	var f assembled
	for s := a.next; ; s++ {
		m := &a.ring[s%asmRing]
		f.info.key = f.info.key || m.info.key
		if m.info.stamped && !f.info.stamped {
			f.info.stamp, f.info.stamped = m.info.stamp, true
		}
		switch {
		case m.read.After(f.display):
			f.display, f.arrival = m.read, m.sock
		case m.read.Equal(f.display) && m.sock.After(f.arrival):
			f.arrival = m.sock
		}
		m.used = false
		if s == end {
			break
		}
	}
	a.next = end + 1
	a.gapSince = time.Time{}
	if f.info.key {
		a.waitKey = false
	}
	if a.waitKey {
		return out // a frame that depends on a lost one: not shown
	}
	return append(out, f)
}

// skipGap drops the packets up to the first marker after the gap; false if
// there is none yet.
func (a *frameAssembler) skipGap() bool {
	for s := a.next; int16(a.high-s) >= 0; s++ {
		m := &a.ring[s%asmRing]
		if m.used && m.seq == s && m.marker {
			for r := a.next; r != s+1; r++ {
				if x := &a.ring[r%asmRing]; x.used && x.seq == r {
					x.used = false
				}
			}
			a.next = s + 1
			a.gapSince = time.Time{}
			return true
		}
	}
	return false
}

func (a *frameAssembler) reset() {
	for i := range a.ring {
		a.ring[i].used = false
	}
	a.synced, a.waitKey, a.gapSince = false, true, time.Time{}
}
