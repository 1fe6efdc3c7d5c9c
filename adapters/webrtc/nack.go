package webrtc

import (
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// nackResendGap is the least time between two retransmissions of a
// packet (a viewer repeats its NACK after a round trip).
const nackResendGap = 10 * time.Millisecond

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
	size uint16

	mu      sync.Mutex
	streams map[uint32]*nackStream
}

// nackResponderFactory makes a responder for each PeerConnection.
type nackResponderFactory struct{ size uint16 }

func (f nackResponderFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &nackResponder{size: f.size, streams: map[uint32]*nackStream{}}, nil
}

type nackStream struct {
	w     interceptor.RTPWriter
	ssrc  uint32
	epoch time.Time // what sentPacket.resent counts from
	mu    sync.Mutex
	sent  []sentPacket // by sequence number modulo its length
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
	s := &nackStream{w: w, ssrc: info.SSRC, epoch: time.Now(), sent: make([]sentPacket, n.size)}
	n.mu.Lock()
	n.streams[info.SSRC] = s
	n.mu.Unlock()
	ssrc := info.SSRC
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		if h.SSRC == ssrc {
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
			s.mu.Unlock()
		}
		return w.Write(h, payload, a)
	})
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
	for _, pair := range nack.Nacks {
		pair.Range(func(seq uint16) bool {
			s.mu.Lock()
			p := &s.sent[int(seq)%len(s.sent)]
			if !p.valid || p.seq != seq || (p.resent != 0 && at-p.resent < int64(nackResendGap)) {
				s.mu.Unlock()
				return true
			}
			p.resent = at
			h, payload := p.header(s.ssrc), p.payload
			s.mu.Unlock()
			_, _ = s.w.Write(&h, payload, nil)
			return true
		})
	}
}
