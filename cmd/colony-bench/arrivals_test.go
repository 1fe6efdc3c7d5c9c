package main

import (
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// rtpDatagram is an RTP packet as it travels over a WebRTC socket (SRTP
// leaves the header in the clear).
func rtpDatagram(t *testing.T, ssrc uint32, seq uint16, pt uint8, marker bool) []byte {
	t.Helper()
	b, err := (&rtp.Packet{Header: rtp.Header{Version: 2, Marker: marker, PayloadType: pt,
		SequenceNumber: seq, Timestamp: 9000, SSRC: ssrc}, Payload: []byte{0x65, 1, 2, 3}}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// stunDatagram is a STUN binding request (first byte 0).
var stunDatagram = []byte{0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}

// dtlsDatagram starts like a DTLS 1.2 handshake record (first byte 22).
var dtlsDatagram = []byte{22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0}

func rtcpDatagram(t *testing.T) []byte {
	t.Helper()
	b, err := rtcp.Marshal([]rtcp.Packet{&rtcp.ReceiverReport{SSRC: 0x01020304,
		Reports: []rtcp.ReceptionReport{{SSRC: 0x0a0b0c0d, LastSequenceNumber: 77}}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestIsRTP(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
		want bool
	}{
		{"RTP, marker", rtpDatagram(t, 1, 2, 102, true), true},
		{"RTP, no marker", rtpDatagram(t, 1, 2, 96, false), true},
		{"RTP, payload type 127 with marker", rtpDatagram(t, 1, 2, 127, true), true},
		{"RTP, payload type 35", rtpDatagram(t, 1, 2, 35, true), true},
		{"RTCP receiver report", rtcpDatagram(t), false},
		{"RTCP range without marker bit (payload type 64..95)", rtpDatagram(t, 1, 2, 72, false), false},
		{"STUN", stunDatagram, false},
		{"DTLS", dtlsDatagram, false},
		{"short", rtpDatagram(t, 1, 2, 102, true)[:11], false},
		{"RTP version 1", append([]byte{0x40}, rtpDatagram(t, 1, 2, 102, true)[1:]...), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := isRTP(tc.b); got != tc.want {
				t.Fatalf("isRTP(% x) = %v, want %v", tc.b, got, tc.want)
			}
		})
	}
}

func TestArrivalLog(t *testing.T) {
	now := time.Now()
	ns := func(ago time.Duration) int64 { return now.Add(-ago).UnixNano() }
	rtxAttrs := func(ssrc uint32, seq uint16) interceptor.Attributes {
		a := interceptor.Attributes{}
		a.Set(webrtc.AttributeRtxSsrc, ssrc)
		a.Set(webrtc.AttributeRtxSequenceNumber, seq)
		return a
	}
	type rec struct {
		b  []byte
		ns int64
	}
	tests := []struct {
		name      string
		recs      []rec
		ssrc      uint32
		seq       uint16
		attrs     interceptor.Attributes
		wantAgo   time.Duration // how long before now the answer is
		wantFound bool
	}{
		{"recorded", []rec{{rtpDatagram(t, 7, 100, 102, true), ns(3 * time.Millisecond)}},
			7, 100, nil, 3 * time.Millisecond, true},
		{"another SSRC", []rec{{rtpDatagram(t, 7, 100, 102, true), ns(3 * time.Millisecond)}},
			8, 100, nil, 0, false},
		{"another sequence number", []rec{{rtpDatagram(t, 7, 100, 102, true), ns(3 * time.Millisecond)}},
			7, 101, nil, 0, false},
		{"slot reused by a later packet", []rec{{rtpDatagram(t, 7, 100, 102, true), ns(3 * time.Millisecond)},
			{rtpDatagram(t, 7, 100+arrivalSlots, 102, true), ns(time.Millisecond)}},
			7, 100, nil, 0, false},
		{"two SSRCs with the same sequence number", []rec{{rtpDatagram(t, 7, 100, 102, true), ns(3 * time.Millisecond)},
			{rtpDatagram(t, 9, 100, 111, true), ns(time.Millisecond)}},
			7, 100, nil, 3 * time.Millisecond, true},
		{"a second copy: the later time", []rec{{rtpDatagram(t, 7, 100, 102, true), ns(3 * time.Millisecond)},
			{rtpDatagram(t, 7, 100, 102, true), ns(2 * time.Millisecond)}},
			7, 100, nil, 2 * time.Millisecond, true},
		{"RTCP is not recorded", []rec{{rtcpDatagram(t), ns(3 * time.Millisecond)}},
			0x01020304, 0, nil, 0, false},
		{"repaired from RTX: the RTX packet's arrival", []rec{{rtpDatagram(t, 7, 100, 102, true), ns(300 * time.Millisecond)},
			{rtpDatagram(t, 50, 9, 103, true), ns(time.Millisecond)}},
			7, 100, rtxAttrs(50, 9), time.Millisecond, true},
		{"repaired from RTX not recorded: unknown, not the original's", []rec{{rtpDatagram(t, 7, 100, 102, true), ns(300 * time.Millisecond)}},
			7, 100, rtxAttrs(50, 9), 0, false},
		{"after the read: another packet's", []rec{{rtpDatagram(t, 7, 100, 102, true), ns(-time.Millisecond)}},
			7, 100, nil, 0, false},
		{"too old: another packet's", []rec{{rtpDatagram(t, 7, 100, 102, true), ns(arrivalMaxAge + time.Second)}},
			7, 100, nil, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := &arrivalLog{}
			for _, r := range tc.recs {
				l.record(r.b, r.ns)
			}
			got, found := l.arrival(tc.ssrc, tc.seq, tc.attrs, now)
			want := now
			if tc.wantFound {
				want = now.Add(-tc.wantAgo)
			}
			if found != tc.wantFound || !got.Equal(want) {
				t.Fatalf("arrival %v (found %v), want %v (%v)", now.Sub(got), found, now.Sub(want), tc.wantFound)
			}
		})
	}

	var nilLog *arrivalLog
	if got, found := nilLog.arrival(7, 100, nil, now); found || !got.Equal(now) {
		t.Fatalf("no log: %v %v", got, found)
	}
}

// SSRCs beyond arrivalSSRCs take the ring of the one heard from longest ago.
func TestArrivalLogSSRCs(t *testing.T) {
	now := time.Now()
	l := &arrivalLog{}
	for i := range arrivalSSRCs + 1 {
		l.record(rtpDatagram(t, uint32(i+1), 5, 102, false), now.Add(time.Duration(i-20)*time.Millisecond).UnixNano())
	}
	if len(l.rings) != arrivalSSRCs {
		t.Fatalf("%d rings", len(l.rings))
	}
	if _, ok := l.lookup(1, 5); ok {
		t.Fatal("the stalest SSRC is still there")
	}
	for i := 2; i <= arrivalSSRCs+1; i++ {
		if _, ok := l.lookup(uint32(i), 5); !ok {
			t.Fatalf("SSRC %d lost", i)
		}
	}
}
