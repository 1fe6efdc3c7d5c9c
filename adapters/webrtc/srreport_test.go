package webrtc

import (
	"sync"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// rtcpLog records the RTCP packets written.
type rtcpLog struct {
	mu     sync.Mutex
	writes [][]rtcp.Packet
}

func (l *rtcpLog) Write(pkts []rtcp.Packet, _ interceptor.Attributes) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writes = append(l.writes, pkts)
	return 0, nil
}

func (l *rtcpLog) take() [][]rtcp.Packet {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.writes
	l.writes = nil
	return w
}

var discardRTP = interceptor.RTPWriterFunc(func(_ *rtp.Header, p []byte, _ interceptor.Attributes) (int, error) { return len(p), nil })

// TestSenderReports: each connection's streams are reported together,
// once their first packet is sent, then every srInterval; a report pairs
// the NTP time of now with the RTP timestamp of now, extrapolated from
// when the last timestamp was first sent, and counts packets and payload
// octets.
func TestSenderReports(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	type send struct {
		at     time.Duration // since t0
		stream int           // 0: video (90 kHz), 1: audio (48 kHz)
		ts     uint32
		size   int
	}
	type want struct {
		ssrc           uint32
		rtp            uint32
		packets, bytes uint32
	}
	tests := []struct {
		name  string
		sends []send
		at    time.Duration // the report's time
		want  []want        // nil: no report
	}{
		{name: "nothing sent", at: time.Second},
		{name: "one frame", sends: []send{{0, 0, 1000, 1200}, {0, 0, 1000, 300}}, at: 500 * time.Millisecond,
			want: []want{{11, 1000 + 45000, 2, 1500}}},
		{name: "the last frame counts", sends: []send{{0, 0, 1000, 100}, {100 * time.Millisecond, 0, 1000 + 9000, 100}, {120 * time.Millisecond, 0, 1000 + 9000, 100}},
			at: 200 * time.Millisecond, want: []want{{11, 1000 + 9000 + 9000, 3, 300}}},
		{name: "video and audio", sends: []send{{0, 0, 5, 10}, {0, 1, 7, 20}, {10 * time.Millisecond, 1, 7 + 480, 20}},
			at: 20 * time.Millisecond, want: []want{{11, 5 + 1800, 1, 10}, {22, 7 + 480 + 480, 2, 40}}},
		{name: "timestamps wrap", sends: []send{{0, 0, 0xffffff00, 1}}, at: time.Second, want: []want{{11, 90000 - 0x100, 1, 1}}},
		{name: "a packet after the report's time", sends: []send{{time.Second, 0, 90000, 1}}, at: 900 * time.Millisecond,
			want: []want{{11, 90000 - 9000, 1, 1}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := &fakeClock{t: t0}
			r := &senderReports{now: clock.now, peers: map[*srPeer]struct{}{}}
			it, err := r.NewInterceptor("")
			if err != nil {
				t.Fatal(err)
			}
			p := it.(*srPeer)
			var log rtcpLog
			p.BindRTCPWriter(&log)
			writers := []interceptor.RTPWriter{
				p.BindLocalStream(&interceptor.StreamInfo{SSRC: 11, ClockRate: 90000}, discardRTP),
				p.BindLocalStream(&interceptor.StreamInfo{SSRC: 22, ClockRate: 48000}, discardRTP),
			}
			for _, s := range tc.sends {
				clock.t = t0.Add(s.at)
				if _, err := writers[s.stream].Write(&rtp.Header{Timestamp: s.ts}, make([]byte, s.size), nil); err != nil {
					t.Fatal(err)
				}
			}
			now := t0.Add(tc.at)
			p.report(now)
			writes := log.take()
			if tc.want == nil {
				if len(writes) != 0 {
					t.Fatalf("reports %v before any packet", writes)
				}
				return
			}
			if len(writes) != 1 || len(writes[0]) != len(tc.want) {
				t.Fatalf("writes %v, want one of %d reports", writes, len(tc.want))
			}
			for i, w := range tc.want {
				sr, ok := writes[0][i].(*rtcp.SenderReport)
				if !ok {
					t.Fatalf("packet %d is %T", i, writes[0][i])
				}
				if sr.SSRC != w.ssrc || sr.RTPTime != w.rtp || sr.PacketCount != w.packets || sr.OctetCount != w.bytes || sr.NTPTime != toNTP(now) {
					t.Errorf("report %+v, want SSRC %d RTP %d, %d packets, %d octets, NTP %x", sr, w.ssrc, w.rtp, w.packets, w.bytes, toNTP(now))
				}
			}
			// The next report is due srInterval later.
			p.report(now.Add(srInterval - time.Millisecond))
			if w := log.take(); len(w) != 0 {
				t.Fatalf("a second report %v before the interval", w)
			}
			p.report(now.Add(srInterval))
			if w := log.take(); len(w) != 1 {
				t.Fatalf("%d writes one interval later, want 1", len(w))
			}
			// Unbound streams and closed connections are not reported.
			p.UnbindLocalStream(&interceptor.StreamInfo{SSRC: 11})
			p.report(now.Add(3 * srInterval))
			for _, w := range log.take() {
				for _, pkt := range w {
					if pkt.(*rtcp.SenderReport).SSRC == 11 {
						t.Fatal("an unbound stream was reported")
					}
				}
			}
			if err := p.Close(); err != nil {
				t.Fatal(err)
			}
			if len(r.peers) != 0 {
				t.Fatal("a closed connection is still registered")
			}
			p.report(now.Add(10 * srInterval))
			if w := log.take(); len(w) != 0 {
				t.Fatalf("a closed connection reported %v", w)
			}
		})
	}
}

// TestSenderReportsRun: the reporter's goroutine reports the connections
// registered, and Close stops it.
func TestSenderReportsRun(t *testing.T) {
	r := newSenderReports(5*time.Millisecond, time.Now)
	it, _ := r.NewInterceptor("")
	var log rtcpLog
	it.BindRTCPWriter(&log)
	w := it.BindLocalStream(&interceptor.StreamInfo{SSRC: 7, ClockRate: 90000}, discardRTP)
	if _, err := w.Write(&rtp.Header{Timestamp: 1}, []byte{1, 2, 3}, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a sender report", 5*time.Second, func() bool {
		for _, pkts := range log.take() {
			if sr, ok := pkts[0].(*rtcp.SenderReport); ok && sr.SSRC == 7 && sr.PacketCount == 1 && sr.OctetCount == 3 {
				return true
			}
		}
		return false
	})
	_ = it.Close()
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	_ = r.Close() // idempotent
}

func TestToNTP(t *testing.T) {
	tests := []struct {
		t    time.Time
		want uint64
	}{
		{time.Unix(0, 0), 2208988800 << 32},
		{time.Unix(1, 500_000_000), (2208988800+1)<<32 | 1<<31},
		{time.Unix(1_700_000_000, 250_000_000), (2208988800+1_700_000_000)<<32 | 1<<30},
	}
	for _, tc := range tests {
		if got := toNTP(tc.t); got != tc.want {
			t.Errorf("toNTP(%v) = %x, want %x", tc.t, got, tc.want)
		}
	}
}
