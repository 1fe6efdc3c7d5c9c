package webrtc

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/colony-live/colony/adapters/webrtc/client"
	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/ports"
	"github.com/pion/rtp"
)

// TestAudioFanout: the viewers of a stream share one reader of its Opus
// companion (a fan-out, as for the stream itself); each gets every frame
// in order from when it joined; one
// leaving does not stop the others' audio, and the last one leaving
// releases the reader (so the companion can stop when idle).
func TestAudioFanout(t *testing.T) {
	fx := loadH264Fixture(t, 3)
	opus := loadOpusPackets(t, "3")
	src, companion := companionStreams(t, fx)
	play := fakePlayback{play: func(context.Context, ports.PlayRequest) (*media.Stream, error) { return src, nil }}
	s, hs := newTestServer(t, Config{AudioTimeout: time.Second, Audio: serveCompanion(companion)}, fakeIngest{publish: noPublish}, play)

	feed := newCompanionFeed(fx, opus, src, companion)
	feed.until(30)

	type viewer struct {
		pl    *client.Player
		mu    sync.Mutex
		audio []*rtp.Packet
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	viewers := make([]*viewer, 3)
	for i := range viewers {
		v := &viewer{}
		opts := client.PlayOptions{Options: client.Options{Logger: testLogger()},
			OnAudioPacket: func(p *rtp.Packet, _ time.Time) {
				v.mu.Lock()
				v.audio = append(v.audio, p.Clone())
				v.mu.Unlock()
			}}
		pl, err := client.Play(ctx, hs.URL+"/LiveApp/whep/cam1", opts)
		if err != nil {
			t.Fatalf("play %d: %v", i, err)
		}
		t.Cleanup(func() { _ = pl.Close() })
		v.pl = pl
		viewers[i] = v
	}
	waitFor(t, "the viewers", 5*time.Second, func() bool { return liveMembers(s, src) == 3 })
	waitFor(t, "the fan-out's members", 5*time.Second, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		f := s.fanouts[companion]
		if f == nil {
			return false
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		return len(f.members) == 3
	})
	if n := companion.Readers(); n != 1 {
		t.Fatalf("%d companion readers for 3 viewers, want 1", n)
	}
	count := func(v *viewer) int {
		v.mu.Lock()
		defer v.mu.Unlock()
		return len(v.audio)
	}
	feed.until(60)
	for i, v := range viewers {
		waitFor(t, "audio to every viewer", 10*time.Second, func() bool { return count(v) >= 20 })
		// In order, consecutive, stamped by their PTS.
		v.mu.Lock()
		got := append([]*rtp.Packet(nil), v.audio...)
		v.mu.Unlock()
		first := -1
		for j, p := range opus {
			if bytes.Equal(p, got[0].Payload) {
				first = j
				break
			}
		}
		if first < 0 {
			t.Fatalf("viewer %d: the first audio packet is no Opus packet of the source", i)
		}
		for j, p := range got {
			if !bytes.Equal(p.Payload, opus[first+j]) || p.Timestamp-got[0].Timestamp != uint32(j*960) {
				t.Fatalf("viewer %d: audio packet %d is not Opus packet %d at %d ticks", i, j, first+j, j*960)
			}
		}
	}

	// One leaves; the others keep getting audio.
	_ = viewers[0].pl.Close()
	waitFor(t, "the viewer's departure", 5*time.Second, func() bool { return liveMembers(s, src) == 2 })
	before := []int{count(viewers[1]), count(viewers[2])}
	feed.until(len(fx.aus))
	for i, v := range viewers[1:] {
		waitFor(t, "audio after a viewer left", 10*time.Second, func() bool { return count(v) >= before[i]+20 })
	}
	if n := companion.Readers(); n != 1 {
		t.Fatalf("%d companion readers, want 1", n)
	}

	// The last ones leave: the reader goes.
	_ = viewers[1].pl.Close()
	_ = viewers[2].pl.Close()
	waitFor(t, "the companion reader's release", 5*time.Second, func() bool { return companion.Readers() == 0 })
	waitFor(t, "the fan-outs to stop", 5*time.Second, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.fanouts) == 0
	})
}
