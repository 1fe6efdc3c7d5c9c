package webrtc

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/ports"
	"github.com/pion/rtcp"
	pion "github.com/pion/webrtc/v4"
)

// ntpTime is the wall time of a 64-bit NTP timestamp.
func ntpTime(ntp uint64) time.Time {
	sec := int64(ntp>>32) - ntpEpochOffset
	ns := int64((ntp & 0xffffffff) * 1e9 >> 32)
	return time.Unix(sec, ns)
}

// TestWHEPSenderReports: a viewer of a live stream gets sender reports of
// its video whose RTP timestamp is the one of the report's NTP time
// (within 50 ms of the timestamps received, which follow real time), with
// growing packet and octet counts.
func TestWHEPSenderReports(t *testing.T) {
	fx := loadH264Fixture(t, 3)
	st := media.NewStream([]media.Track{{Codec: media.H264, ClockRate: 90000, SPS: fx.sps, PPS: fx.pps, Width: 320, Height: 240}}, media.StreamConfig{})
	defer st.Close()
	play := fakePlayback{play: func(context.Context, ports.PlayRequest) (*media.Stream, error) { return st, nil }}
	srv, hs := newTestServer(t, Config{}, fakeIngest{publish: noPublish}, play)

	pc := newClientPC(t)
	if _, err := pc.AddTransceiverFromKind(pion.RTPCodecTypeVideo, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	var (
		mu      sync.Mutex
		lastTS  uint32
		lastAt  time.Time
		packets int
		srs     []*rtcp.SenderReport
		errs    []string
	)
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	pc.OnTrack(func(tr *pion.TrackRemote, rcv *pion.RTPReceiver) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				pkts, _, err := rcv.ReadRTCP()
				if err != nil {
					return
				}
				now := time.Now()
				for _, p := range pkts {
					sr, ok := p.(*rtcp.SenderReport)
					if !ok || sr.SSRC != uint32(tr.SSRC()) {
						continue
					}
					mu.Lock()
					// The timestamp of the report's time, from the last packet received.
					want := lastTS + uint32(ntpTime(sr.NTPTime).Sub(lastAt).Seconds()*90000)
					if d := int32(sr.RTPTime - want); d > 4500 || d < -4500 {
						errs = append(errs, "RTP time off by "+time.Duration(int64(d)*int64(time.Second)/90000).String())
					}
					if d := now.Sub(ntpTime(sr.NTPTime)); d < -time.Second || d > time.Second {
						errs = append(errs, "NTP time off by "+d.String())
					}
					srs = append(srs, sr)
					mu.Unlock()
				}
			}
		}()
		for {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			mu.Lock()
			if pkt.Timestamp != lastTS || packets == 0 {
				lastTS, lastAt = pkt.Timestamp, time.Now()
			}
			packets++
			mu.Unlock()
		}
	})
	playWHEP(t, hs.URL+"/LiveApp/whep/cam1", pc)
	waitConnected(t, pc)
	waitFor(t, "the viewer's reader", 5*time.Second, func() bool { return st.Readers() == 1 })
	start := time.Now()
	for i := range fx.aus { // live, in real time, stamped as ingest stamps them
		time.Sleep(time.Until(start.Add(time.Duration(i) * fixtureFrameDur)))
		u := fx.unit(i)
		u.Ingest = time.Now()
		st.Write(u)
	}
	// The player measured its send lag (the send-lag guard's input) against
	// the source's shared floor.
	srv.mu.Lock()
	measured := 0
	for _, p := range srv.sessions {
		if pl := p.play; pl != nil && pl.lag.shared != nil {
			if _, ok := pl.lag.take(); ok {
				measured++
			}
		}
	}
	srv.mu.Unlock()
	if measured != 1 {
		t.Errorf("%d players measured their send lag, want 1", measured)
	}
	waitFor(t, "two sender reports", 5*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(srs) >= 2
	})
	mu.Lock()
	defer mu.Unlock()
	for _, e := range errs {
		t.Error(e)
	}
	a, b := srs[0], srs[len(srs)-1]
	if a.PacketCount == 0 || b.PacketCount <= a.PacketCount || b.OctetCount <= a.OctetCount || int(b.PacketCount) > packets+100 {
		t.Fatalf("reports count %d then %d packets (%d then %d octets); %d received", a.PacketCount, b.PacketCount, a.OctetCount, b.OctetCount, packets)
	}
}
