package webrtc

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// nackResendGap is the least time between two retransmissions of a
// packet (a viewer repeats its NACK after a round trip).
const nackResendGap = 10 * time.Millisecond

// The retransmission budget: each viewer's stream earns, for every packet
// first sent, nackBudgetShare of its payload's bytes, up to nackBudgetMax
// (a new stream starts full), and each retransmission spends its payload's
// bytes; a NACK the budget cannot pay for is not answered. So a viewer's
// retransmissions stay within half of its media's rate (plus one burst,
// a whole keyframe at common rates), whatever it asks for: a viewer that
// NACKs every packet of its history, again and again, cannot multiply
// what the server sends it, and under overload the losses' NACKs cannot
// add more than half again to the packets that caused them. libwebrtc
// bounds retransmissions similarly (its retransmission rate limiter, at
// the send bitrate); real loss under a third is repaired in full.
const (
	nackBudgetShare = 2 // earn 1/nackBudgetShare of each packet sent
	nackBudgetMax   = 128 << 10
)

// nackCounts are a server's retransmission figures, shared by its
// responders.
type nackCounts struct {
	resent  atomic.Uint64 // packets retransmitted
	refused atomic.Uint64 // retransmissions asked for and refused by the budget
}

// nackResponder answers viewers' NACKs like pion's responder, without
// copying every packet sent: it keeps each packet's header fields and a
// reference to its payload. Payloads written to a NACK-enabled stream
// must therefore never be modified after the write, which holds for the
// server's video (the frame cache's payloads are shared, read-only, and
// SRTP encrypts into a buffer of its own). A 256-packet history is then
// 14 KB per viewer instead of pion's copies (about 400 KB);
// the payloads themselves are shared by every viewer.
type nackResponder struct {
	interceptor.NoOp
	size   uint16
	counts *nackCounts

	mu      sync.Mutex
	streams map[uint32]*nackStream
}

// nackResponderFactory makes a responder for each PeerConnection; counts
// gathers their figures.
type nackResponderFactory struct {
	size   uint16
	counts *nackCounts
}

func (f nackResponderFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &nackResponder{size: f.size, counts: f.counts, streams: map[uint32]*nackStream{}}, nil
}

type nackStream struct {
	w      interceptor.RTPWriter
	ssrc   uint32
	epoch  time.Time // what sentPacket.resent counts from
	mu     sync.Mutex
	sent   []sentPacket // by sequence number modulo its length
	budget int          // bytes retransmissions may still spend
}

// sentPacket is a packet of the history: the header fields the server's
// packets use (a clone of the whole header when it has more), and a
// reference to the payload; 56 bytes, so that writing one touches one
// cache line (a viewer's history, NACKBuffer entries, is written once per
// packet and almost never read).
type sentPacket struct {
	payload []byte
	full    *rtp.Header // the header, when it has CSRCs, extensions or padding
	resent  int64       // when last resent, in ns since epoch plus 1; 0: never
	ts      uint32
	seq     uint16
	pt      uint8
	version uint8
	marker  bool
	valid   bool
}

// header rebuilds the packet's header.
func (p *sentPacket) header(ssrc uint32) rtp.Header {
	if p.full != nil {
		return *p.full
	}
	return rtp.Header{Version: p.version, Marker: p.marker, PayloadType: p.pt, SequenceNumber: p.seq, Timestamp: p.ts, SSRC: ssrc}
}

func supportsNack(info *interceptor.StreamInfo) bool {
	for _, fb := range info.RTCPFeedback {
		if fb.Type == "nack" && fb.Parameter == "" {
			return true
		}
	}
	return false
}

// BindLocalStream records the packets of a stream that has NACK feedback.
func (n *nackResponder) BindLocalStream(info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	if !supportsNack(info) {
		return w
	}
	s := &nackStream{w: w, ssrc: info.SSRC, epoch: time.Now(), sent: make([]sentPacket, n.size), budget: nackBudgetMax}
	n.mu.Lock()
	n.streams[info.SSRC] = s
	n.mu.Unlock()
	if ds := tappedStream(info); ds != nil {
		ds.nack.Store(s) // the direct path's frames are recorded too
	}
	ssrc := info.SSRC
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		if h.SSRC == ssrc {
			s.record(h, payload)
		}
		return w.Write(h, payload, a)
	})
}

// record keeps a packet sent in the history.
func (s *nackStream) record(h *rtp.Header, payload []byte) {
	var full *rtp.Header
	if len(h.CSRC) > 0 || h.Extension || len(h.Extensions) > 0 || h.Padding {
		c := h.Clone() // the caller may reuse their storage
		full = &c
	}
	s.mu.Lock()
	s.sent[int(h.SequenceNumber)%len(s.sent)] = sentPacket{
		payload: payload, full: full, ts: h.Timestamp, seq: h.SequenceNumber,
		pt: h.PayloadType, version: h.Version, marker: h.Marker, valid: true,
	}
	s.budget = min(s.budget+len(payload)/nackBudgetShare, nackBudgetMax)
	s.mu.Unlock()
}

// UnbindLocalStream forgets a stream.
func (n *nackResponder) UnbindLocalStream(info *interceptor.StreamInfo) {
	n.mu.Lock()
	delete(n.streams, info.SSRC)
	n.mu.Unlock()
}

// Close forgets every stream.
func (n *nackResponder) Close() error {
	n.mu.Lock()
	clear(n.streams)
	n.mu.Unlock()
	return nil
}

// BindRTCPReader resends the packets the viewer's NACKs name.
func (n *nackResponder) BindRTCPReader(r interceptor.RTCPReader) interceptor.RTCPReader {
	return interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		i, attr, err := r.Read(b, a)
		if err != nil {
			return 0, nil, err
		}
		if attr == nil {
			attr = make(interceptor.Attributes)
		}
		pkts, err := attr.GetRTCPPackets(b[:i])
		if err != nil {
			return 0, nil, err
		}
		for _, p := range pkts {
			if nack, ok := p.(*rtcp.TransportLayerNack); ok {
				n.resend(nack, time.Now())
			}
		}
		return i, attr, nil
	})
}

func (n *nackResponder) resend(nack *rtcp.TransportLayerNack, now time.Time) {
	n.mu.Lock()
	s := n.streams[nack.MediaSSRC]
	n.mu.Unlock()
	if s == nil {
		return
	}
	at := int64(now.Sub(s.epoch)) + 1
	var resent, refused uint64
	for _, pair := range nack.Nacks {
		pair.Range(func(seq uint16) bool {
			s.mu.Lock()
			p := &s.sent[int(seq)%len(s.sent)]
			if !p.valid || p.seq != seq || (p.resent != 0 && at-p.resent < int64(nackResendGap)) {
				s.mu.Unlock()
				return true
			}
			if len(p.payload) > s.budget {
				s.mu.Unlock()
				refused++
				return true
			}
			s.budget -= len(p.payload)
			p.resent = at
			h, payload := p.header(s.ssrc), p.payload
			s.mu.Unlock()
			_, _ = s.w.Write(&h, payload, nil)
			resent++
			return true
		})
	}
	n.counts.resent.Add(resent)
	n.counts.refused.Add(refused)
}
