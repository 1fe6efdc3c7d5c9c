package webrtc

import (
	"bytes"
	"testing"

	"github.com/colony-live/colony/core/codec"
	"github.com/colony-live/colony/core/media"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
)

// nopRTP counts the packets written.
type nopRTP struct{ n int }

func (w *nopRTP) WriteRTP(*rtp.Packet) error { w.n++; return nil }

var bigIDRSlice = append([]byte{0x65}, bytes.Repeat([]byte{0xab}, 30000)...)

// bigIDR is an access unit of one 30 KB IDR slice, in AVCC.
func bigIDR() *media.Unit {
	return &media.Unit{Key: true, Data: codec.JoinAVCC([][]byte{bigIDRSlice})}
}

func TestFrameCacheSharesPayloads(t *testing.T) {
	c := newFrameCache(media.Track{Codec: media.H264, SPS: testSPS, PPS: testPPS})
	u := bigIDR()
	p1 := c.payloads(u)
	if len(p1) < 25 {
		t.Fatalf("%d payloads for a 30 KB IDR", len(p1))
	}
	if p2 := c.payloads(u); &p2[0][0] != &p1[0][0] {
		t.Fatal("the second viewer's payloads were packetized again")
	}
	// The depacketized frame is SPS, PPS, IDR in Annex-B.
	d := &codecs.H264Packet{}
	var got []byte
	for _, p := range p1 {
		b, err := d.Unmarshal(p)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, b...)
	}
	if !bytes.Equal(got, annexB(testSPS, testPPS, bigIDRSlice)) {
		t.Fatal("payloads do not carry SPS, PPS and the IDR")
	}
	// Past frameCacheSize newer frames, a frame is packetized again.
	for i := 0; i < frameCacheSize; i++ {
		c.payloads(&media.Unit{Data: codec.JoinAVCC([][]byte{{0x41, byte(i)}})})
	}
	if p3 := c.payloads(u); &p3[0][0] == &p1[0][0] || len(c.index) != frameCacheSize {
		t.Fatalf("evicted frame still cached (index %d)", len(c.index))
	}
	if c.payloads(&media.Unit{Data: []byte{0, 0, 0, 9, 1}}) != nil {
		t.Fatal("a malformed frame has payloads")
	}
}

// TestAllocsPerPacket guards the per-viewer cost of a packet: a viewer
// sending a frame another viewer has packetized allocates nothing.
func TestAllocsPerPacket(t *testing.T) {
	c := newFrameCache(media.Track{Codec: media.H264, SPS: testSPS, PPS: testPPS})
	u := bigIDR()
	w := &nopRTP{}
	out := rtpOut{w: w, video: true}
	c.payloads(u)
	allocs := testing.AllocsPerRun(100, func() {
		if err := out.writePayloads(c.payloads(u), 1); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per shared frame (%d packets), want 0", allocs, len(c.payloads(u)))
	}
}

// BenchmarkViewerFrame: a 30 KB IDR sent to a viewer, packetized once
// (shared) or per viewer (miss). Reports allocations per packet.
func BenchmarkViewerFrame(b *testing.B) {
	for _, shared := range []bool{true, false} {
		name := "per-viewer"
		if shared {
			name = "shared"
		}
		b.Run(name, func(b *testing.B) {
			c := newFrameCache(media.Track{Codec: media.H264, SPS: testSPS, PPS: testPPS})
			u := bigIDR()
			w := &nopRTP{}
			out := rtpOut{w: w, video: true}
			b.ReportAllocs()
			for b.Loop() {
				if !shared {
					c = newFrameCache(media.Track{Codec: media.H264, SPS: testSPS, PPS: testPPS})
				}
				_ = out.writePayloads(c.payloads(u), 1)
			}
			b.ReportMetric(float64(w.n)/float64(b.N), "packets/op")
		})
	}
}
