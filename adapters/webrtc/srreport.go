package webrtc

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

const (
	// srInterval is the time between two sender reports of a stream.
	srInterval = time.Second
	// srTick is how often the reporter looks for reports due: each
	// PeerConnection is reported srInterval after its last report, so the
	// reports of many viewers spread over the second.
	srTick = 200 * time.Millisecond
)

// senderReports makes the RTCP sender reports of every PeerConnection's
// local (sent) streams, in place of pion's report.SenderInterceptor,
// which takes a mutex and reads the clock for every packet and runs a
// goroutine and a ticker per PeerConnection. Here a packet costs two
// atomic additions (the clock is read once per frame, when the RTP
// timestamp changes) and one goroutine reports for all the connections.
// A report carries what browsers need for lip sync and statistics: an
// NTP time with the RTP timestamp of the same instant (extrapolated from
// the last frame sent), and the packet and octet counts.
//
// It is the interceptor factory; Close stops its goroutine.
type senderReports struct {
	now func() time.Time

	mu    sync.Mutex
	peers map[*srPeer]struct{}

	done    chan struct{}
	stopped chan struct{}
	once    sync.Once
}

// newSenderReports starts the reporter; tick is how often it looks for
// reports due.
func newSenderReports(tick time.Duration, now func() time.Time) *senderReports {
	r := &senderReports{now: now, peers: map[*srPeer]struct{}{}, done: make(chan struct{}), stopped: make(chan struct{})}
	go r.run(tick)
	return r
}

// NewInterceptor makes the reporting of one PeerConnection.
func (r *senderReports) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &srPeer{r: r}, nil
}

// Close stops the reporter.
func (r *senderReports) Close() error {
	r.once.Do(func() { close(r.done) })
	<-r.stopped
	return nil
}

func (r *senderReports) run(tick time.Duration) {
	defer close(r.stopped)
	t := time.NewTicker(tick)
	defer t.Stop()
	var due []*srPeer
	for {
		select {
		case <-r.done:
			return
		case <-t.C:
		}
		now := r.now()
		r.mu.Lock()
		for p := range r.peers {
			due = append(due, p)
		}
		r.mu.Unlock()
		for _, p := range due {
			p.report(now)
		}
		clear(due)
		due = due[:0]
	}
}

// srPeer reports one PeerConnection's local streams.
type srPeer struct {
	interceptor.NoOp
	r *senderReports

	mu      sync.Mutex
	w       interceptor.RTCPWriter
	streams []*srStream
	next    time.Time // when the next report is due (zero: as soon as there are packets)
	closed  bool
}

// BindRTCPWriter registers the connection with the reporter.
func (p *srPeer) BindRTCPWriter(w interceptor.RTCPWriter) interceptor.RTCPWriter {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.w = w
	if !p.closed {
		p.r.mu.Lock()
		p.r.peers[p] = struct{}{}
		p.r.mu.Unlock()
	}
	return w
}

// BindLocalStream counts the stream's packets and octets and notes the
// wall time of each new RTP timestamp. Retransmissions (written by the
// NACK responder, below this interceptor) are not counted, as in pion.
func (p *srPeer) BindLocalStream(info *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	s := &srStream{ssrc: info.SSRC, clock: float64(info.ClockRate), now: p.r.now}
	if s.clock == 0 {
		s.clock = 90000
	}
	p.mu.Lock()
	p.streams = append(p.streams, s)
	p.mu.Unlock()
	if ds := tappedStream(info); ds != nil {
		ds.sr.Store(s) // the direct path's frames are counted too
	}
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		s.sentN(h.Timestamp, 1, len(payload))
		return w.Write(h, payload, a)
	})
}

// UnbindLocalStream stops reporting a stream.
func (p *srPeer) UnbindLocalStream(info *interceptor.StreamInfo) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, s := range p.streams {
		if s.ssrc == info.SSRC {
			p.streams = append(p.streams[:i], p.streams[i+1:]...)
			return
		}
	}
}

// Close unregisters the connection.
func (p *srPeer) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	p.streams = nil
	p.r.mu.Lock()
	delete(p.r.peers, p)
	p.r.mu.Unlock()
	return nil
}

// report sends the connection's reports, in one compound packet, when due.
func (p *srPeer) report(now time.Time) {
	p.mu.Lock()
	if p.closed || p.w == nil || now.Before(p.next) {
		p.mu.Unlock()
		return
	}
	var pkts []rtcp.Packet
	for _, s := range p.streams {
		if sr := s.report(now); sr != nil {
			pkts = append(pkts, sr)
		}
	}
	w := p.w
	if len(pkts) > 0 {
		p.next = now.Add(srInterval)
	}
	p.mu.Unlock()
	if len(pkts) > 0 {
		_, _ = w.Write(pkts, interceptor.Attributes{}) // fails only once the connection is closed
	}
}

// srStream is one local stream's counters and its last RTP timestamp
// with the wall time it was first sent at.
type srStream struct {
	ssrc  uint32
	clock float64
	now   func() time.Time

	packets atomic.Uint32 // modulo 2^32, as in the report
	octets  atomic.Uint32 // payload octets, modulo 2^32
	lastTS  atomic.Uint64 // 1<<32 | the last RTP timestamp; 0 before the first packet

	mu   sync.Mutex
	ts   uint32
	wall time.Time
}

// sentN counts n packets of ts with octets of payload.
func (s *srStream) sentN(ts uint32, n, octets int) {
	s.packets.Add(uint32(n))
	s.octets.Add(uint32(octets))
	if v := 1<<32 | uint64(ts); s.lastTS.Load() != v {
		t := s.now()
		s.mu.Lock()
		s.ts, s.wall = ts, t
		s.mu.Unlock()
		s.lastTS.Store(v)
	}
}

// report is the stream's sender report at now, or nil before its first packet.
func (s *srStream) report(now time.Time) *rtcp.SenderReport {
	if s.lastTS.Load() == 0 {
		return nil
	}
	s.mu.Lock()
	ts, wall := s.ts, s.wall
	s.mu.Unlock()
	return &rtcp.SenderReport{
		SSRC:        s.ssrc,
		NTPTime:     toNTP(now),
		RTPTime:     ts + uint32(int64(now.Sub(wall).Seconds()*s.clock)),
		PacketCount: s.packets.Load(),
		OctetCount:  s.octets.Load(),
	}
}

// ntpEpochOffset is the seconds from 1900 (NTP) to 1970 (Unix).
const ntpEpochOffset = 2208988800

// toNTP is t as a 64-bit NTP timestamp (32.32 fixed point seconds since 1900).
func toNTP(t time.Time) uint64 {
	ns := uint64(t.UnixNano())
	sec := ns/1e9 + ntpEpochOffset
	frac := (ns % 1e9 << 32) / 1e9
	return sec<<32 | frac
}
