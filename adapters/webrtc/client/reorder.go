package client

import (
	"time"

	"github.com/pion/rtp"
)

// reorder puts the RTP packets of one stream back in sequence order. A
// missing packet is waited for (a NACK retransmission may bring it) for
// maxWait, or until maxHeld packets are held; it is then given up as lost.
// Duplicates and packets older than the sequence are dropped.
type reorder struct {
	maxWait time.Duration
	maxHeld int

	started   bool
	next      uint16 // the sequence number expected next
	held      map[uint16]*rtp.Packet
	gapSince  time.Time
	lost      int // packets given up
	duplicate int // duplicates and packets older than the sequence
}

func newReorder(maxWait time.Duration, maxHeld int) *reorder {
	return &reorder{maxWait: maxWait, maxHeld: maxHeld, held: map[uint16]*rtp.Packet{}}
}

// push adds a packet received at now and calls emit with the packets now
// in order; lost is the number of packets given up just before that one.
func (r *reorder) push(p *rtp.Packet, now time.Time, emit func(p *rtp.Packet, lost int)) {
	if !r.started {
		r.started, r.next = true, p.SequenceNumber
	}
	if d := int16(p.SequenceNumber - r.next); d < 0 {
		r.duplicate++
		return
	}
	if _, ok := r.held[p.SequenceNumber]; ok {
		r.duplicate++
		return
	}
	r.held[p.SequenceNumber] = p
	lost := 0
	for {
		for q, ok := r.held[r.next]; ok; q, ok = r.held[r.next] {
			delete(r.held, r.next)
			r.next++
			emit(q, lost)
			lost = 0
		}
		if len(r.held) == 0 {
			r.gapSince = time.Time{}
			return
		}
		if r.gapSince.IsZero() {
			r.gapSince = now
		}
		if now.Sub(r.gapSince) < r.maxWait && len(r.held) <= r.maxHeld {
			return
		}
		// Give up the missing packets up to the oldest one held.
		skip := -1
		for seq := range r.held {
			if d := int(uint16(seq - r.next)); skip < 0 || d < skip {
				skip = d
			}
		}
		r.next += uint16(skip)
		r.lost += skip
		lost = skip
		r.gapSince = now
	}
}
