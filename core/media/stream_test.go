package media

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var avTracks = []Track{{Codec: H264, ClockRate: 90000}, {Codec: AAC, ClockRate: 48000}}

// gop returns the units of one GOP: a keyframe, n-1 delta frames, each followed by an audio frame.
func gop(start time.Duration, n int) []*Unit {
	var us []*Unit
	for i := 0; i < n; i++ {
		ts := start + time.Duration(i)*33*time.Millisecond
		us = append(us, &Unit{Track: 0, PTS: ts, DTS: ts, Key: i == 0, Data: []byte{byte(i)}})
		us = append(us, &Unit{Track: 1, PTS: ts, DTS: ts, Key: true, Data: []byte{0xa}})
	}
	return us
}

func TestNewReaderStartsAtCachedGOP(t *testing.T) {
	s := NewStream(avTracks, StreamConfig{})
	defer s.Close()
	for _, u := range gop(0, 30) {
		s.Write(u)
	}
	second := gop(time.Second, 5)
	for _, u := range second {
		s.Write(u)
	}
	r, err := s.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Queued() != len(second) {
		t.Fatalf("new reader queued %d units, want the cached GOP of %d", r.Queued(), len(second))
	}
	u, err := r.Next(context.Background())
	if err != nil || u != second[0] || !u.Key {
		t.Fatalf("first unit = %+v, %v; want the last keyframe", u, err)
	}
}

func TestReaderWithoutCacheWaitsForKeyframe(t *testing.T) {
	s := NewStream(avTracks, StreamConfig{})
	defer s.Close()
	r, _ := s.Subscribe()
	defer r.Close()
	// Delta frames and audio before any keyframe are skipped.
	s.Write(&Unit{Track: 0, Data: []byte{1}})
	s.Write(&Unit{Track: 1, Key: true, Data: []byte{2}})
	if r.Queued() != 0 {
		t.Fatalf("queued %d units before the first keyframe", r.Queued())
	}
	k := &Unit{Track: 0, Key: true, Data: []byte{3}}
	s.Write(k)
	if u, _ := r.Next(context.Background()); u != k {
		t.Fatalf("first unit %+v, want the keyframe", u)
	}
}

func TestStalledReaderDoesNotBlockWriterOrOthers(t *testing.T) {
	s := NewStream(avTracks, StreamConfig{QueueSize: 16})
	defer s.Close()
	stalled, _ := s.Subscribe() // never read
	defer stalled.Close()
	fast, _ := s.Subscribe()
	defer fast.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan int, 1)
	go func() {
		n := 0
		_ = fast.Run(ctx, func(*Unit) error {
			n++
			if n == 600 {
				got <- n
			}
			return nil
		})
	}()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 10; i++ {
			for _, u := range gop(time.Duration(i)*time.Second, 30) {
				s.Write(u)
				time.Sleep(10 * time.Microsecond) // let the fast reader keep up
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("writer blocked by a stalled reader")
	}
	select {
	case <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("fast reader starved")
	}
	if stalled.Dropped() == 0 {
		t.Fatal("stalled reader dropped nothing")
	}
	if fast.Dropped() != 0 {
		t.Fatalf("fast reader dropped %d units", fast.Dropped())
	}
}

func TestSlowReaderResumesAtKeyframe(t *testing.T) {
	s := NewStream(avTracks, StreamConfig{QueueSize: 8})
	defer s.Close()
	r, _ := s.Subscribe()
	defer r.Close()
	first := gop(0, 30) // 60 units into a queue of 8: overflows
	for _, u := range first {
		s.Write(u)
	}
	ctx := context.Background()
	var got []*Unit
	drain := func() {
		for r.Queued() > 0 {
			u, _ := r.Next(ctx)
			got = append(got, u)
		}
	}
	drain()                                   // the reader catches up; it is still waiting for a keyframe
	s.Write(&Unit{Track: 0, Data: []byte{9}}) // a delta frame: skipped
	second := gop(time.Second, 2)
	for _, u := range second {
		s.Write(u)
	}
	drain()
	if len(got) != 8+len(second) {
		t.Fatalf("got %d units, want the 8 queued then the next GOP (%d)", len(got), len(second))
	}
	if got[8] != second[0] || !got[8].Key {
		t.Fatalf("after the gap the reader resumed at %+v, want the keyframe", got[8])
	}
	if want := uint64(len(first) - 8 + 1); r.Dropped() != want {
		t.Fatalf("dropped %d, want %d", r.Dropped(), want)
	}
}

func TestCloseEndsReaders(t *testing.T) {
	s := NewStream(avTracks, StreamConfig{})
	r, _ := s.Subscribe()
	var wg sync.WaitGroup
	wg.Add(1)
	var runErr error
	go func() {
		defer wg.Done()
		runErr = r.Run(context.Background(), func(*Unit) error { return nil })
	}()
	s.Close()
	wg.Wait()
	if !errors.Is(runErr, ErrStreamClosed) {
		t.Fatalf("Run after Close = %v", runErr)
	}
	r.Close() // after the stream closed: no panic
	s.Close() // idempotent
	if _, err := s.Subscribe(); !errors.Is(err, ErrStreamClosed) {
		t.Fatalf("Subscribe after Close = %v", err)
	}
	select {
	case <-s.Done():
	default:
		t.Fatal("Done not closed")
	}
}

func TestReaderCloseAndErrors(t *testing.T) {
	s := NewStream(avTracks, StreamConfig{})
	defer s.Close()
	r, _ := s.Subscribe()
	if s.Readers() != 1 {
		t.Fatalf("Readers = %d", s.Readers())
	}
	r.Close()
	r.Close()
	if s.Readers() != 0 {
		t.Fatalf("Readers after Close = %d", s.Readers())
	}
	if _, err := r.Next(context.Background()); !errors.Is(err, ErrReaderClosed) {
		t.Fatalf("Next after Close = %v", err)
	}
	r2, _ := s.Subscribe()
	defer r2.Close()
	s.Write(&Unit{Track: 0, Key: true})
	boom := errors.New("boom")
	if err := r2.Run(context.Background(), func(*Unit) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("Run callback error = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r2.Run(ctx, func(*Unit) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run cancelled = %v", err)
	}
	s.Write(&Unit{Track: 7}) // unknown track: ignored
	if st := s.Stats(); st.UnitsIn != 1 {
		t.Fatalf("UnitsIn = %d", st.UnitsIn)
	}
}

func TestGOPCacheBounds(t *testing.T) {
	s := NewStream(avTracks, StreamConfig{MaxGOPUnits: 10})
	defer s.Close()
	for _, u := range gop(0, 30) { // 60 units: more than the cache holds
		s.Write(u)
	}
	r, _ := s.Subscribe()
	defer r.Close()
	if r.Queued() != 0 {
		t.Fatalf("over-long GOP was cached (%d units)", r.Queued())
	}
	k := &Unit{Track: 0, Key: true}
	s.Write(k)
	if u, _ := r.Next(context.Background()); u != k {
		t.Fatal("reader did not start at the next keyframe")
	}
}

func TestAudioOnlyStream(t *testing.T) {
	s := NewStream([]Track{{Codec: Opus, ClockRate: 48000}}, StreamConfig{QueueSize: 8})
	defer s.Close()
	for i := 0; i < 20; i++ {
		s.Write(&Unit{Track: 0, Key: true, Data: []byte{byte(i)}})
	}
	r, _ := s.Subscribe()
	defer r.Close()
	if q := r.Queued(); q == 0 || q > 8 {
		t.Fatalf("audio-only new reader queued %d units, want a short backlog", q)
	}
}
