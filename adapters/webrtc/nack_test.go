package webrtc

import (
	"bytes"
	"reflect"
	"testing"
	"time"
	"unsafe"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

type nackSent struct {
	hdr     rtp.Header
	payload []byte
}

// nackRecorder records the packets written, with a copy of each header.
type nackRecorder struct{ pkts []nackSent }

func (r *nackRecorder) Write(h *rtp.Header, payload []byte, _ interceptor.Attributes) (int, error) {
	r.pkts = append(r.pkts, nackSent{*h, payload})
	return len(payload), nil
}

// nackRTCP hands one marshalled RTCP compound packet to the reader.
type nackRTCP []byte

func (b nackRTCP) Read(p []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
	return copy(p, b), a, nil
}

func TestNackResponder(t *testing.T) {
	const ssrc = 0x1234
	f := nackResponderFactory{size: 8, counts: &nackCounts{}}
	i, err := f.NewInterceptor("")
	if err != nil {
		t.Fatal(err)
	}
	rec := &nackRecorder{}
	info := &interceptor.StreamInfo{SSRC: ssrc, RTCPFeedback: []interceptor.RTCPFeedback{{Type: "nack"}}}
	w := i.BindLocalStream(info, rec)
	var hdr rtp.Header // reused for every packet, as rtpOut does
	payloads := make([][]byte, 20)
	for seq := range 20 {
		payloads[seq] = []byte{byte(seq), 0xaa}
		hdr = rtp.Header{Version: 2, SSRC: ssrc, SequenceNumber: uint16(seq), Timestamp: uint32(seq * 10), Marker: seq%3 == 0}
		if _, err := w.Write(&hdr, payloads[seq], nil); err != nil {
			t.Fatal(err)
		}
	}
	rec.pkts = nil

	nack := func(seqs ...uint16) {
		t.Helper()
		var pairs []rtcp.NackPair
		for _, s := range seqs {
			pairs = append(pairs, rtcp.NackPair{PacketID: s})
		}
		b, err := rtcp.Marshal([]rtcp.Packet{&rtcp.TransportLayerNack{MediaSSRC: ssrc, Nacks: pairs}})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := i.BindRTCPReader(nackRTCP(b)).Read(make([]byte, 1500), nil); err != nil {
			t.Fatal(err)
		}
	}
	// 15 and 19 are in the 8-packet history; 3 was overwritten by 11.
	nack(15, 19, 3)
	if len(rec.pkts) != 2 {
		t.Fatalf("%d packets resent, want 2", len(rec.pkts))
	}
	for k, seq := range []int{15, 19} {
		p := rec.pkts[k]
		if int(p.hdr.SequenceNumber) != seq || p.hdr.Timestamp != uint32(seq*10) || p.hdr.Marker != (seq%3 == 0) || !bytes.Equal(p.payload, payloads[seq]) {
			t.Fatalf("resent %+v %x, want packet %d", p.hdr, p.payload, seq)
		}
		if &p.payload[0] != &payloads[seq][0] {
			t.Fatal("the payload was copied")
		}
	}
	// A repeated NACK right away is not answered; after the gap it is.
	nack(15)
	if len(rec.pkts) != 2 {
		t.Fatal("a packet resent twice within the gap")
	}
	time.Sleep(nackResendGap + 5*time.Millisecond)
	nack(15)
	if len(rec.pkts) != 3 {
		t.Fatal("a repeated NACK after the gap was not answered")
	}
	// An unbound stream is forgotten.
	i.UnbindLocalStream(info)
	time.Sleep(nackResendGap + 5*time.Millisecond)
	nack(19)
	if len(rec.pkts) != 3 {
		t.Fatal("a packet of an unbound stream was resent")
	}
	// A stream without NACK feedback is not recorded.
	if got := i.BindLocalStream(&interceptor.StreamInfo{SSRC: 9}, rec); got != interceptor.RTPWriter(rec) {
		t.Fatal("a stream without nack feedback was wrapped")
	}
}

// TestNackResponderAllocs: recording a packet allocates nothing.
func TestNackResponderAllocs(t *testing.T) {
	i, _ := nackResponderFactory{size: 256, counts: &nackCounts{}}.NewInterceptor("")
	w := i.BindLocalStream(&interceptor.StreamInfo{SSRC: 1, RTCPFeedback: []interceptor.RTCPFeedback{{Type: "nack"}}}, &nackDiscard{})
	h := rtp.Header{SSRC: 1}
	payload := make([]byte, 1200)
	allocs := testing.AllocsPerRun(1000, func() {
		h.SequenceNumber++
		_, _ = w.Write(&h, payload, nil)
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per packet", allocs)
	}
}

type nackDiscard struct{}

func (nackDiscard) Write(_ *rtp.Header, p []byte, _ interceptor.Attributes) (int, error) {
	return len(p), nil
}

// TestNackResponderHeaders: a resent packet has the header it was first
// sent with, whether the history keeps its fields (56 bytes an entry) or
// a clone of a header with CSRCs, extensions or padding.
func TestNackResponderHeaders(t *testing.T) {
	if size := unsafe.Sizeof(sentPacket{}); size != 56 {
		t.Fatalf("a history entry is %d bytes, want 56", size)
	}
	const ssrc = 0x99
	tests := []struct {
		name string
		hdr  rtp.Header
	}{
		{"plain", rtp.Header{Version: 2, Marker: true, PayloadType: 102, SequenceNumber: 7, Timestamp: 12345, SSRC: ssrc}},
		{"CSRCs", rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: 8, Timestamp: 1, SSRC: ssrc, CSRC: []uint32{1, 2}}},
		{"extension", withExtension(rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: 9, Timestamp: 2, SSRC: ssrc}, 3, []byte{1, 2})},
		{"padding", rtp.Header{Version: 2, Padding: true, PaddingSize: 4, PayloadType: 96, SequenceNumber: 10, Timestamp: 3, SSRC: ssrc}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			i, _ := nackResponderFactory{size: 16, counts: &nackCounts{}}.NewInterceptor("")
			rec := &nackRecorder{}
			w := i.BindLocalStream(&interceptor.StreamInfo{SSRC: ssrc, RTCPFeedback: []interceptor.RTCPFeedback{{Type: "nack"}}}, rec)
			h := tc.hdr.Clone()
			if _, err := w.Write(&h, []byte{1}, nil); err != nil {
				t.Fatal(err)
			}
			if len(h.CSRC) > 0 { // the caller reuses its storage
				h.CSRC[0] = 0xdead
			}
			if len(h.Extensions) > 0 {
				_ = h.SetExtension(3, []byte{0xff, 0xff})
			}
			b, _ := rtcp.Marshal([]rtcp.Packet{&rtcp.TransportLayerNack{MediaSSRC: ssrc, Nacks: []rtcp.NackPair{{PacketID: tc.hdr.SequenceNumber}}}})
			if _, _, err := i.BindRTCPReader(nackRTCP(b)).Read(make([]byte, 1500), nil); err != nil {
				t.Fatal(err)
			}
			if len(rec.pkts) != 2 {
				t.Fatalf("%d packets written, want the packet and its retransmission", len(rec.pkts))
			}
			if got := rec.pkts[1].hdr; !reflect.DeepEqual(got, tc.hdr) {
				t.Fatalf("resent header %+v, want %+v", got, tc.hdr)
			}
		})
	}
}

func withExtension(h rtp.Header, id uint8, payload []byte) rtp.Header {
	if err := h.SetExtension(id, payload); err != nil {
		panic(err)
	}
	return h
}

// TestNackBudget: a viewer's retransmissions are bounded by its budget
// (half of what was first sent, plus nackBudgetMax), whatever it asks
// for, while real loss up to a third is repaired in full.
func TestNackBudget(t *testing.T) {
	const (
		ssrc    = 0x77
		size    = 1200 // payload bytes of every packet
		history = 256
	)
	tests := []struct {
		name    string
		packets int                 // packets first sent, one round each
		nacked  func(seq int) []int // what the viewer NACKs after packet seq
		// wantAll: every NACKed packet is resent; otherwise the budget
		// must refuse some and bound the rest.
		wantAll bool
	}{
		{name: "10% loss", packets: 5000, nacked: everyNth(10), wantAll: true},
		{name: "30% loss", packets: 5000, nacked: lossEvery(3, 10), wantAll: true},
		{name: "a new stream's burst", packets: 100, nacked: func(seq int) []int {
			if seq != 99 {
				return nil
			}
			return seqRange(0, 100) // 120 KB: within the starting budget
		}, wantAll: true},
		{name: "NACKing the whole history every round", packets: 3000, nacked: func(seq int) []int {
			return seqRange(max(0, seq-history+1), seq+1)
		}},
		{name: "a burst over the budget", packets: 256, nacked: func(seq int) []int {
			if seq != 255 {
				return nil
			}
			return seqRange(0, 256) // 300 KB
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			counts := &nackCounts{}
			i, _ := nackResponderFactory{size: history, counts: counts}.NewInterceptor("")
			n := i.(*nackResponder)
			rec := &nackRecorder{}
			w := i.BindLocalStream(&interceptor.StreamInfo{SSRC: ssrc, RTCPFeedback: []interceptor.RTCPFeedback{{Type: "nack"}}}, rec)
			payload := make([]byte, size)
			now := time.Now()
			asked := 0
			for seq := range tc.packets {
				h := rtp.Header{Version: 2, SSRC: ssrc, SequenceNumber: uint16(seq)}
				if _, err := w.Write(&h, payload, nil); err != nil {
					t.Fatal(err)
				}
				// Rounds are further apart than the resend gap, so only
				// the budget can refuse.
				now = now.Add(nackResendGap + time.Millisecond)
				seqs := tc.nacked(seq)
				if len(seqs) == 0 {
					continue
				}
				var pairs []rtcp.NackPair
				for _, s := range seqs {
					pairs = append(pairs, rtcp.NackPair{PacketID: uint16(s)})
				}
				asked += len(seqs)
				n.resend(&rtcp.TransportLayerNack{MediaSSRC: ssrc, Nacks: pairs}, now)
			}
			resent := len(rec.pkts) - tc.packets
			if got := counts.resent.Load(); got != uint64(resent) {
				t.Fatalf("counted %d retransmissions, %d written", got, resent)
			}
			if got := counts.refused.Load(); got != uint64(asked-resent) {
				t.Fatalf("counted %d refused, want %d (%d asked, %d resent)", got, asked-resent, asked, resent)
			}
			if tc.wantAll {
				if resent != asked {
					t.Fatalf("%d of %d NACKed packets resent, want all", resent, asked)
				}
				return
			}
			if resent == asked {
				t.Fatalf("all %d NACKed packets resent: the budget refused none", asked)
			}
			if bound := nackBudgetMax + tc.packets*size/nackBudgetShare; resent*size > bound {
				t.Fatalf("%d bytes resent, over the budget's %d", resent*size, bound)
			}
		})
	}
}

// everyNth NACKs every nth packet once, right after it.
func everyNth(n int) func(int) []int {
	return func(seq int) []int {
		if seq%n == 0 {
			return []int{seq}
		}
		return nil
	}
}

// lossEvery NACKs lost packets of every packet-window: the first k of n.
func lossEvery(k, n int) func(int) []int {
	return func(seq int) []int {
		if seq%n < k {
			return []int{seq}
		}
		return nil
	}
}

func seqRange(from, to int) []int {
	s := make([]int, 0, to-from)
	for i := from; i < to; i++ {
		s = append(s, i)
	}
	return s
}
