package webrtc

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/ports"
	pion "github.com/pion/webrtc/v4"
)

// TestNACKStorm: a viewer that NACKs its whole history every 20 ms, over
// the muxed port, is resent no more than its budget (half of what it was
// first sent, plus nackBudgetMax), the rest of its NACKs are refused and
// counted, and another viewer of the stream plays on at the stream's
// rate.
func TestNACKStorm(t *testing.T) {
	fx := loadH264Fixture(t, 2)
	st := media.NewStream([]media.Track{{Codec: media.H264, ClockRate: 90000, SPS: fx.sps, PPS: fx.pps}}, media.StreamConfig{})
	t.Cleanup(st.Close)
	publishLoop(t, st, fx)
	play := fakePlayback{play: func(context.Context, ports.PlayRequest) (*media.Stream, error) { return st, nil }}
	s, hs := newTestServer(t, Config{UDPMuxPort: freeUDPPort(t)}, fakeIngest{publish: noPublish}, play)

	storm := newSeqViewer(t)

	calm := newClientPC(t)
	if _, err := calm.AddTransceiverFromKind(pion.RTPCodecTypeVideo, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	var frames atomic.Int64
	calm.OnTrack(func(tr *pion.TrackRemote, _ *pion.RTPReceiver) {
		for {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			if pkt.Marker {
				frames.Add(1)
			}
		}
	})

	playWHEP(t, hs.URL+"/LiveApp/whep/cam1", storm.pc)
	playWHEP(t, hs.URL+"/LiveApp/whep/cam1", calm)
	waitConnected(t, storm.pc)
	waitConnected(t, calm)
	waitFor(t, "the first packets", 5*time.Second, func() bool {
		storm.mu.Lock()
		defer storm.mu.Unlock()
		return len(storm.seen) > 0
	})

	const stormFor = 3 * time.Second
	startFrames := frames.Load()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for end := time.Now().Add(stormFor); time.Now().Before(end); {
		<-tick.C
		storm.mu.Lock()
		seqs := make([]uint16, 0, 256)
		for k := range uint16(256) {
			seqs = append(seqs, storm.last-255+k)
		}
		storm.mu.Unlock()
		storm.nack(t, seqs)
	}
	calmFrames := frames.Load() - startFrames
	time.Sleep(200 * time.Millisecond) // the last retransmissions arrive

	st2 := s.Stats()
	storm.mu.Lock()
	first, resent := storm.firstBytes, storm.resentBytes
	storm.mu.Unlock()
	if st2.RetransmitsRefused == 0 {
		t.Fatalf("no retransmission refused (%d resent): the budget did not bound the storm", st2.Retransmitted)
	}
	if st2.Retransmitted == 0 || resent == 0 {
		t.Fatalf("nothing resent (server %d, viewer %d bytes): the budget refused all", st2.Retransmitted, resent)
	}
	if bound := nackBudgetMax + first/nackBudgetShare; resent > bound {
		t.Fatalf("%d bytes resent for %d first sent: over the budget's %d", resent, first, bound)
	}
	// The other viewer played on at the stream's rate (30 fps).
	if want := int64(stormFor/fixtureFrameDur) * 8 / 10; calmFrames < want {
		t.Fatalf("the other viewer had %d frames in %v, want at least %d", calmFrames, stormFor, want)
	}
	t.Logf("storm: %d KB first sent, %d KB resent, %d packets resent, %d refused; the other viewer %d frames", first>>10, resent>>10, st2.Retransmitted, st2.RetransmitsRefused, calmFrames)
}
