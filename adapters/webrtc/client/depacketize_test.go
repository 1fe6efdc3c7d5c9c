package client

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
)

// packetize turns access units into RTP packets as pion's sender does
// (STAP-A for parameter sets, FU-A over the MTU), 3000 ticks apart.
func packetize(aus [][][]byte, mtu uint16) []*rtp.Packet {
	p := rtp.NewPacketizer(mtu, 102, 1234, &codecs.H264Payloader{}, rtp.NewRandomSequencer(), 90000)
	var pkts []*rtp.Packet
	for _, au := range aus {
		pkts = append(pkts, p.Packetize(annexB(nil, au), 3000)...)
	}
	return pkts
}

func testAUs(t *testing.T) [][][]byte {
	t.Helper()
	return readAUs(t, open(t, h264File(t, 2, false)))
}

// vcl keeps the picture NAL units of an access unit (the sender may move
// parameter sets around).
func vcl(au [][]byte) [][]byte {
	var out [][]byte
	for _, n := range au {
		if isVCL(n) {
			out = append(out, n)
		}
	}
	return out
}

func equalNALUs(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

func TestAssemblerRebuildsAccessUnits(t *testing.T) {
	aus := testAUs(t)
	pkts := packetize(aus, 500) // small: many FU-A
	var got []AccessUnit
	a := newH264Assembler(func(au AccessUnit) { got = append(got, au) })
	now := time.Now()
	for _, p := range pkts {
		a.push(p, 0, now)
	}
	if len(got) != len(aus) || a.dropped != 0 {
		t.Fatalf("%d access units (%d dropped), want %d", len(got), a.dropped, len(aus))
	}
	for i := range aus {
		if !equalNALUs(vcl(got[i].NALUs), vcl(aus[i])) {
			t.Fatalf("access unit %d differs", i)
		}
		if got[i].Key != (i%30 == 0) || got[i].PTS != time.Duration(i)*time.Second/30 {
			t.Fatalf("access unit %d: key %v pts %v", i, got[i].Key, got[i].PTS)
		}
	}
	if !bytes.HasPrefix(au0Types(got[0].NALUs), []byte{naluSPS, naluPPS}) {
		t.Fatalf("first access unit NAL types %v", au0Types(got[0].NALUs))
	}
}

func TestAssemblerDropsUntilKeyframeAfterLoss(t *testing.T) {
	aus := testAUs(t)
	pkts := packetize(aus, 500)
	// Lose one packet in the middle of access unit 5.
	var lostTS uint32
	target := -1
	n := 0
	for i, p := range pkts {
		if p.Marker {
			n++
		}
		if n == 5 && !p.Marker && target < 0 && i > 0 && pkts[i-1].Timestamp == p.Timestamp {
			target, lostTS = i, p.Timestamp
		}
	}
	var got []AccessUnit
	a := newH264Assembler(func(au AccessUnit) { got = append(got, au) })
	now := time.Now()
	for i, p := range pkts {
		switch {
		case i == target:
			continue
		case i == target+1:
			a.push(p, 1, now)
		default:
			a.push(p, 0, now)
		}
	}
	// Access units 0-4 and then 30-59: 5-29 wait for the next IDR.
	if len(got) != 5+30 {
		t.Fatalf("%d access units delivered, want 35", len(got))
	}
	for _, au := range got {
		if au.RTPTimestamp == lostTS {
			t.Fatal("the damaged access unit was delivered")
		}
	}
	if !got[5].Key || a.dropped != 25 {
		t.Fatalf("after the loss: key %v, %d dropped", got[5].Key, a.dropped)
	}
}

func TestAssemblerWaitsForFirstKeyframe(t *testing.T) {
	aus := testAUs(t)
	var got []AccessUnit
	a := newH264Assembler(func(au AccessUnit) { got = append(got, au) })
	for _, p := range packetize(aus[10:], 1200) {
		a.push(p, 0, time.Now())
	}
	if len(got) != 30 || !got[0].Key || *a.firstKey {
		t.Fatalf("%d access units, first key %v, first complete key %v", len(got), len(got) > 0 && got[0].Key, *a.firstKey)
	}
}

func TestAssemblerShuffledWithReorder(t *testing.T) {
	aus := testAUs(t)
	pkts := packetize(aus, 700)
	rng := rand.New(rand.NewPCG(1, 2))
	// Swap neighbours here and there, as a network might.
	for i := 0; i+1 < len(pkts); i += 2 + rng.IntN(5) {
		pkts[i], pkts[i+1] = pkts[i+1], pkts[i]
	}
	var got []AccessUnit
	a := newH264Assembler(func(au AccessUnit) { got = append(got, au) })
	r := newReorder(time.Second, 100)
	now := time.Now()
	for _, p := range pkts {
		r.push(p, now, func(q *rtp.Packet, lost int) { a.push(q, lost, now) })
	}
	if len(got) != len(aus) {
		t.Fatalf("%d access units, want %d", len(got), len(aus))
	}
}

func FuzzAssembler(f *testing.F) {
	f.Add([]byte{0x18, 0, 2, 0x67, 0x42, 0, 2, 0x68, 0xce}, true)
	f.Add([]byte{0x7c, 0x85, 1, 2, 3}, false)
	f.Add([]byte{0x7c, 0x45, 4}, true)
	f.Add([]byte{0x65, 0x88, 0x84}, true)
	f.Add([]byte{0x18, 0, 9, 0x67}, true)
	f.Fuzz(func(t *testing.T, payload []byte, marker bool) {
		n := 0
		a := newH264Assembler(func(au AccessUnit) {
			n++
			if len(au.NALUs) == 0 || !au.Key && n == 1 {
				t.Fatalf("bad access unit %+v", au)
			}
			for _, nal := range au.NALUs {
				if len(nal) == 0 {
					t.Fatal("empty NAL unit")
				}
			}
		})
		for i := range 3 {
			a.push(&rtp.Packet{Header: rtp.Header{SequenceNumber: uint16(i), Timestamp: uint32(i / 2), Marker: marker}, Payload: payload}, 0, time.Now())
		}
	})
}
