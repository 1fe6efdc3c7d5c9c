package webrtc

import "net/netip"

const (
	// gsoMaxSegments is the most datagrams one GSO message carries (the
	// kernel's UDP_MAX_SEGMENTS is 64 before Linux 6.9, 128 after).
	gsoMaxSegments = 64
	// gsoMaxBytes bounds a GSO message's payload (an IP packet's 64 KB
	// less the IPv6 and UDP headers, rounded down).
	gsoMaxBytes = 65000
)

// gsoMsg is one message of a send plan: the datagrams order[start :
// start+n] of a batch, all to one address; with n > 1 they are sent as
// one GSO message cut into segments of seg bytes (the last one may be
// shorter).
type gsoMsg struct {
	start, n int32
	seg      int
}

// gsoPlan groups a batch's datagrams into messages. With GSO, the
// datagrams to each address, in the order written, are cut into runs of
// equal size, each ended by at most one shorter datagram (what GSO can
// send): a frame's RTP packets to a viewer, all of one size but the
// last, become one message. The addresses come in the order of their
// first datagram; one address's datagrams keep their order. Without GSO
// every datagram is a message, in the order written.
type gsoPlan struct {
	order []int32
	msgs  []gsoMsg
	next  []int32                  // the next datagram to the same address, or -1
	last  map[netip.AddrPort]int32 // the last datagram to each address, as of its last run's end
	heads []int32                  // each address's first datagram
}

// make plans d's datagrams.
func (p *gsoPlan) make(d *datagrams, gso bool) {
	n := d.len()
	p.order, p.msgs = p.order[:0], p.msgs[:0]
	if !gso {
		for i := range n {
			p.order = append(p.order, int32(i))
			p.msgs = append(p.msgs, gsoMsg{start: int32(i), n: 1, seg: len(d.packet(i))})
		}
		return
	}
	if p.last == nil {
		p.last = make(map[netip.AddrPort]int32)
	}
	clear(p.last)
	p.heads = p.heads[:0]
	p.next = p.next[:0]
	for i := range n {
		p.next = append(p.next, -1)
		a := d.addrs[i]
		if i > 0 && a == d.addrs[i-1] { // most often: the rest of a frame
			p.next[i-1] = int32(i)
			continue
		}
		if i > 0 { // a run of the previous address ends: the map learns its last datagram
			p.last[d.addrs[i-1]] = int32(i - 1)
		}
		if j, ok := p.last[a]; ok {
			p.next[j] = int32(i)
		} else {
			p.heads = append(p.heads, int32(i))
		}
	}
	for _, h := range p.heads {
		var m gsoMsg
		open := false // m takes more datagrams
		for i := h; i >= 0; i = p.next[i] {
			size := len(d.packet(int(i)))
			if open && size > 0 && size <= m.seg && m.n < gsoMaxSegments && m.seg*int(m.n)+size <= gsoMaxBytes {
				m.n++
				open = size == m.seg // a shorter one ends the message
			} else {
				if m.n > 0 {
					p.msgs = append(p.msgs, m)
				}
				m, open = gsoMsg{start: int32(len(p.order)), n: 1, seg: size}, size > 0
			}
			p.order = append(p.order, i)
		}
		p.msgs = append(p.msgs, m)
	}
}
