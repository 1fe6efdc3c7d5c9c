package portstest

import (
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
)

// fullBroadcast returns a record with every field set to a non-zero value.
func fullBroadcast(k stream.Key) stream.Broadcast {
	return stream.Broadcast{
		Key:           k,
		Name:          "Full " + string(k.ID),
		Status:        stream.StatusBroadcasting,
		Type:          "liveStream",
		PublishType:   stream.PublishWebRTC,
		OriginNode:    "origin-1",
		OriginAddr:    "10.0.0.1:7000",
		CreatedAt:     at(-time.Hour),
		StartTime:     at(-time.Minute),
		EndTime:       at(-2 * time.Minute),
		UpdatedAt:     at(-time.Second),
		Width:         1920,
		Height:        1080,
		Bitrate:       4_500_000,
		VideoCodec:    "h264",
		AudioCodec:    "opus",
		HLSViewers:    11,
		WebRTCViewers: 22,
		RTMPViewers:   33,
		Ladder: []stream.Rendition{
			{Height: 720, VideoBitrate: 2_000_000, AudioBitrate: 128_000, ForceEncode: true},
			{Height: 360, VideoBitrate: 800_000, AudioBitrate: 64_000},
		},
	}
}

func mustCreate(t *testing.T, s ports.StreamCatalog, b stream.Broadcast) {
	t.Helper()
	if err := s.CreateBroadcast(ctx(t), b); err != nil {
		t.Fatalf("CreateBroadcast %s: %v", b.Key, err)
	}
}

func assertBroadcastEq(t *testing.T, what string, got, want stream.Broadcast) {
	t.Helper()
	if g, w := normBroadcast(got), normBroadcast(want); !reflect.DeepEqual(g, w) {
		t.Fatalf("%s:\n got  %+v\n want %+v", what, g, w)
	}
}

func assertStored(t *testing.T, s ports.StreamCatalog, want stream.Broadcast) {
	t.Helper()
	got, err := s.Broadcast(ctx(t), want.Key)
	if err != nil {
		t.Fatalf("Broadcast %s: %v", want.Key, err)
	}
	assertBroadcastEq(t, "Broadcast "+want.Key.String(), got, want)
}

func assertMissing(t *testing.T, s ports.StreamCatalog, k stream.Key) {
	t.Helper()
	b, err := s.Broadcast(ctx(t), k)
	if !errors.Is(err, ports.ErrNotFound) {
		t.Fatalf("Broadcast %s = %+v, %v; want ports.ErrNotFound", k, b, err)
	}
}

func runCatalog(t *testing.T, open func(t *testing.T) ports.Store) {
	k := key("LiveApp", "cam1")

	t.Run("RoundTrip", func(t *testing.T) {
		tests := []struct {
			name string
			b    stream.Broadcast
		}{
			{"AllFields", fullBroadcast(k)},
			{"New", stream.NewBroadcast(k, at(0))},
			{"EmptyLadder", func() stream.Broadcast { b := fullBroadcast(k); b.Ladder = []stream.Rendition{}; return b }()},
			{"ZeroTimes", stream.Broadcast{Key: k, Status: stream.StatusCreated}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := open(t)
				mustCreate(t, s, tt.b)
				assertStored(t, s, tt.b)
			})
		}
	})

	t.Run("CreateDuplicate", func(t *testing.T) {
		s := open(t)
		first := fullBroadcast(k)
		mustCreate(t, s, first)
		dup := stream.NewBroadcast(k, at(time.Hour))
		if err := s.CreateBroadcast(ctx(t), dup); !errors.Is(err, ports.ErrConflict) {
			t.Fatalf("CreateBroadcast duplicate: err = %v, want ports.ErrConflict", err)
		}
		assertStored(t, s, first)
		// The same id in another app is another stream.
		mustCreate(t, s, stream.NewBroadcast(key("OtherApp", "cam1"), at(0)))
	})

	t.Run("BroadcastUnknown", func(t *testing.T) {
		s := open(t)
		mustCreate(t, s, stream.NewBroadcast(key("OtherApp", "cam1"), at(0)))
		assertMissing(t, s, k)
	})

	t.Run("UpdateExisting", func(t *testing.T) {
		s := open(t)
		mustCreate(t, s, stream.NewBroadcast(k, at(0)))
		now := at(time.Minute)
		got, err := s.UpdateBroadcast(ctx(t), k, false, now, func(b *stream.Broadcast) error {
			b.Name = "renamed"
			b.Ladder = []stream.Rendition{{Height: 480, VideoBitrate: 1_000_000}}
			return b.Transition(stream.StatusBroadcasting, now)
		})
		if err != nil {
			t.Fatalf("UpdateBroadcast: %v", err)
		}
		want := stream.NewBroadcast(k, at(0))
		want.Name = "renamed"
		want.Ladder = []stream.Rendition{{Height: 480, VideoBitrate: 1_000_000}}
		want.Status, want.StartTime, want.UpdatedAt = stream.StatusBroadcasting, now, now
		assertBroadcastEq(t, "UpdateBroadcast result", got, want)
		assertStored(t, s, want)
	})

	t.Run("UpdateMissingWithoutCreate", func(t *testing.T) {
		s := open(t)
		called := false
		_, err := s.UpdateBroadcast(ctx(t), k, false, at(0), func(*stream.Broadcast) error { called = true; return nil })
		if !errors.Is(err, ports.ErrNotFound) {
			t.Fatalf("UpdateBroadcast of missing record: err = %v, want ports.ErrNotFound", err)
		}
		if called {
			t.Errorf("fn was called for a missing record")
		}
		assertMissing(t, s, k)
	})

	t.Run("UpdateMissingWithCreate", func(t *testing.T) {
		s := open(t)
		now := at(time.Minute)
		var seen stream.Broadcast
		got, err := s.UpdateBroadcast(ctx(t), k, true, now, func(b *stream.Broadcast) error {
			seen = *b
			b.PublishType = stream.PublishRTMP
			return b.Transition(stream.StatusBroadcasting, now)
		})
		if err != nil {
			t.Fatalf("UpdateBroadcast create: %v", err)
		}
		assertBroadcastEq(t, "record passed to fn", seen, stream.NewBroadcast(k, now))
		want := stream.NewBroadcast(k, now)
		want.PublishType = stream.PublishRTMP
		want.Status, want.StartTime = stream.StatusBroadcasting, now
		assertBroadcastEq(t, "UpdateBroadcast result", got, want)
		assertStored(t, s, want)
	})

	t.Run("UpdateFnError", func(t *testing.T) {
		errAbort := errors.New("abort")
		t.Run("Existing", func(t *testing.T) {
			s := open(t)
			orig := fullBroadcast(k)
			mustCreate(t, s, orig)
			_, err := s.UpdateBroadcast(ctx(t), k, false, at(0), func(b *stream.Broadcast) error {
				b.Name, b.HLSViewers, b.Ladder = "changed", 999, nil
				return errAbort
			})
			if !errors.Is(err, errAbort) {
				t.Fatalf("UpdateBroadcast: err = %v, want fn's error", err)
			}
			assertStored(t, s, orig)
		})
		t.Run("Create", func(t *testing.T) {
			s := open(t)
			_, err := s.UpdateBroadcast(ctx(t), k, true, at(0), func(b *stream.Broadcast) error {
				b.Name = "changed"
				return errAbort
			})
			if !errors.Is(err, errAbort) {
				t.Fatalf("UpdateBroadcast: err = %v, want fn's error", err)
			}
			assertMissing(t, s, k)
		})
	})

	t.Run("ConcurrentUpdates", func(t *testing.T) {
		s := open(t)
		mustCreate(t, s, stream.NewBroadcast(k, at(0)))
		const n = 20
		c := ctx(t)
		start := make(chan struct{})
		errs := make(chan error, n)
		var wg sync.WaitGroup
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, err := s.UpdateBroadcast(c, k, false, at(time.Second), func(b *stream.Broadcast) error {
					b.HLSViewers++
					return nil
				})
				errs <- err
			}()
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("UpdateBroadcast: %v", err)
			}
		}
		got, err := s.Broadcast(ctx(t), k)
		if err != nil {
			t.Fatalf("Broadcast: %v", err)
		}
		if got.HLSViewers != n {
			t.Fatalf("HLSViewers = %d after %d concurrent increments, want %d", got.HLSViewers, n, n)
		}
	})

	t.Run("ConcurrentCreates", func(t *testing.T) {
		s := open(t)
		const n = 20
		c := ctx(t)
		start := make(chan struct{})
		errs := make(chan error, n)
		var wg sync.WaitGroup
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, err := s.UpdateBroadcast(c, k, true, at(0), func(b *stream.Broadcast) error {
					b.RTMPViewers++
					return nil
				})
				errs <- err
			}()
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("UpdateBroadcast create: %v", err)
			}
		}
		want := stream.NewBroadcast(k, at(0))
		want.RTMPViewers = n
		assertStored(t, s, want)
	})

	t.Run("Delete", func(t *testing.T) {
		s := open(t)
		other := stream.NewBroadcast(key("LiveApp", "cam2"), at(0))
		mustCreate(t, s, fullBroadcast(k))
		mustCreate(t, s, other)
		if err := s.DeleteBroadcast(ctx(t), k); err != nil {
			t.Fatalf("DeleteBroadcast: %v", err)
		}
		assertMissing(t, s, k)
		assertStored(t, s, other)
		if err := s.DeleteBroadcast(ctx(t), k); !errors.Is(err, ports.ErrNotFound) {
			t.Fatalf("DeleteBroadcast again: err = %v, want ports.ErrNotFound", err)
		}
		// A deleted key can be created again.
		mustCreate(t, s, stream.NewBroadcast(k, at(time.Hour)))
	})
}
