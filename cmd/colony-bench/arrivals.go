package main

import (
	"encoding/binary"
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"
)

// A WebRTC viewer's UDP sockets note when each RTP packet reached them,
// from the kernel's receive timestamp, so that a frame's arrival can be
// measured before the generator's own receive chain (SRTP, interceptors,
// goroutine hand-offs) adds its queueing to it.
const (
	arrivalSlots  = 2048 // packets remembered per SSRC (several seconds of video)
	arrivalSSRCs  = 8    // SSRCs remembered at once per viewer
	arrivalMaxAge = 5 * time.Second
)

type arrivalSlot struct {
	ns  int64 // kernel receive time, ns since the epoch; 0: empty
	seq uint16
}

type arrivalRing struct {
	ssrc  uint32
	last  int64 // newest receive time noted: the stalest ring is reused
	slots [arrivalSlots]arrivalSlot
}

// arrivalLog is one viewer's record of when RTP packets reached its
// sockets, keyed by SSRC and sequence number from the clear RTP header. It
// is safe for concurrent use (each socket is read by its own goroutine,
// each track by another).
type arrivalLog struct {
	mu    sync.Mutex
	rings []*arrivalRing
	// dtlsSent is when the viewer last sent a DTLS datagram, ns since the
	// epoch; 0: never. When the connection comes up it is the handshake's
	// last flight, the moment from which the server can finish the
	// handshake and start sending (see markConnected).
	dtlsSent int64
}

// isRTP reports whether a datagram on a WebRTC socket is an SRTP packet:
// RTP version 2 (first byte 128..191, RFC 7983, which also leaves out
// STUN, DTLS and TURN channels) with a full header, and not RTCP (RFC 5761
// section 4: the second byte's low 7 bits are 64..95 for RTCP packet types
// 192..223, a payload type range RTP must not use when muxed with RTCP).
func isRTP(b []byte) bool {
	if len(b) < 12 || b[0] < 128 || b[0] > 191 {
		return false
	}
	pt := b[1] & 0x7f
	return pt < 64 || pt > 95
}

// isDTLS reports whether a datagram on a WebRTC socket is DTLS (first byte
// 20..63, RFC 7983).
func isDTLS(b []byte) bool { return len(b) > 0 && b[0] >= 20 && b[0] <= 63 }

// sent notes that the viewer is sending datagram b now, if it is DTLS
// (the clock is read for those only: the others are its media's RTCP and
// STUN).
func (l *arrivalLog) sent(b []byte) {
	if !isDTLS(b) {
		return
	}
	ns := time.Now().UnixNano()
	l.mu.Lock()
	l.dtlsSent = ns
	l.mu.Unlock()
}

// lastDTLSSent returns when the viewer last sent a DTLS datagram; ok is
// false if it has sent none, or if l is nil (sockets without timestamps).
func (l *arrivalLog) lastDTLSSent() (_ time.Time, ok bool) {
	if l == nil {
		return time.Time{}, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.dtlsSent == 0 {
		return time.Time{}, false
	}
	return time.Unix(0, l.dtlsSent), true
}

// record notes that datagram b reached the socket at ns (ns since the
// epoch) if it is RTP.
func (l *arrivalLog) record(b []byte, ns int64) {
	if ns <= 0 || !isRTP(b) {
		return
	}
	ssrc := binary.BigEndian.Uint32(b[8:12])
	seq := binary.BigEndian.Uint16(b[2:4])
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.ring(ssrc)
	// A second copy (a retransmission on the same SSRC) overwrites the
	// first: the later time never understates a latency.
	r.slots[seq%arrivalSlots] = arrivalSlot{ns: ns, seq: seq}
	r.last = ns
}

// ring returns ssrc's ring, reusing the stalest one when all are taken.
// l.mu is held.
func (l *arrivalLog) ring(ssrc uint32) *arrivalRing {
	var stalest *arrivalRing
	for _, r := range l.rings {
		if r.ssrc == ssrc {
			return r
		}
		if stalest == nil || r.last < stalest.last {
			stalest = r
		}
	}
	if len(l.rings) < arrivalSSRCs {
		r := &arrivalRing{ssrc: ssrc}
		l.rings = append(l.rings, r)
		return r
	}
	*stalest = arrivalRing{ssrc: ssrc}
	return stalest
}

// lookup returns when packet (ssrc, seq) reached the socket, in ns since
// the epoch, if it is still remembered.
func (l *arrivalLog) lookup(ssrc uint32, seq uint16) (int64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.rings {
		if r.ssrc != ssrc {
			continue
		}
		s := r.slots[seq%arrivalSlots]
		return s.ns, s.ns != 0 && s.seq == seq
	}
	return 0, false
}

// arrival returns when the packet that a track's Read returned at now,
// with header (ssrc, seq) and attrs, reached the socket; ok is false (and
// the time is now) if that is not known. A packet that pion repaired from
// RTX carries the SSRC and sequence number it came with on the wire in
// attrs (rewritten in its header), and those are looked up.
func (l *arrivalLog) arrival(ssrc uint32, seq uint16, attrs interceptor.Attributes, now time.Time) (_ time.Time, ok bool) {
	if l == nil {
		return now, false
	}
	if rtxSSRC, isRTX := attrs.Get(webrtc.AttributeRtxSsrc).(uint32); isRTX {
		rtxSeq, hasSeq := attrs.Get(webrtc.AttributeRtxSequenceNumber).(uint16)
		if !hasSeq {
			return now, false
		}
		ssrc, seq = rtxSSRC, rtxSeq
	}
	ns, ok := l.lookup(ssrc, seq)
	if !ok {
		return now, false
	}
	t := time.Unix(0, ns)
	if t.After(now) || now.Sub(t) > arrivalMaxAge {
		return now, false // another packet's, from a wrap of the sequence numbers
	}
	return t, true
}
