package rest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/core/stream"
)

func TestMeterWindow(t *testing.T) {
	m := newMeter(MeterConfig{Every: time.Second, Window: 4 * time.Second})
	k := stream.Key{App: "LiveApp", ID: "a"}
	s1 := media.NewStream([]media.Track{{Codec: media.H264, ClockRate: 90000}}, media.StreamConfig{})
	t.Cleanup(s1.Close)
	var bytes uint64
	at := func(i int) time.Time { return now.Add(time.Duration(i) * time.Second) }
	for i := range 2 {
		m.observe(k, s1, at(i), bytes)
		bytes += 250_000 // 2 Mbit/s
	}
	if _, ok := m.rate(k); ok {
		t.Fatal("a rate after 1 s of a 4 s window")
	}
	for i := 2; i <= 6; i++ {
		m.observe(k, s1, at(i), bytes)
		bytes += 250_000
	}
	if r, ok := m.rate(k); !ok || r != 2_000_000 {
		t.Fatalf("rate = %d %v, want 2000000", r, ok)
	}
	// The rate halves: the window follows within its length.
	for i := 7; i <= 11; i++ {
		bytes -= 125_000
		m.observe(k, s1, at(i), bytes)
		bytes += 250_000
	}
	if r, _ := m.rate(k); r != 1_000_000 {
		t.Fatalf("rate 4 s after it halved = %d, want 1000000", r)
	}
	m.mu.Lock()
	n := len(m.series[k].samples)
	m.mu.Unlock()
	if n != 5 {
		t.Fatalf("%d samples kept for a 4 s window sampled every second, want 5", n)
	}
	// A new publisher (a new stream) starts over.
	s2 := media.NewStream([]media.Track{{Codec: media.H264, ClockRate: 90000}}, media.StreamConfig{})
	t.Cleanup(s2.Close)
	m.observe(k, s2, at(12), 10)
	if _, ok := m.rate(k); ok {
		t.Fatal("a rate right after the publisher changed")
	}
	m.keep(nil)
	if _, ok := m.rate(k); ok || len(m.series) != 0 {
		t.Fatal("keep(nil) kept a stream")
	}
}

// published is fakeStreams that also lists the streams published here.
type published struct{ fakeStreams }

func (p published) PublishedStreams() []stream.Key {
	var out []stream.Key
	for k := range p.streams {
		out = append(out, k)
	}
	return out
}

// TestMeasuredBitrate: the broadcast endpoints show the bitrate measured
// from the stream's byte counter, and the record gets it for other nodes.
func TestMeasuredBitrate(t *testing.T) {
	alpha := stream.Key{App: "LiveApp", ID: "alpha"}
	src := media.NewStream([]media.Track{{Codec: media.H264, ClockRate: 90000, Width: 1280, Height: 720}}, media.StreamConfig{})
	t.Cleanup(src.Close)
	lister := published{fakeStreams{streams: map[stream.Key]*media.Stream{alpha: src}}}
	e := newEnv(t, func(c *Config) { c.Streams = lister })
	if _, err := e.store.UpdateBroadcast(context.Background(), alpha, false, now, func(b *stream.Broadcast) error {
		b.Bitrate = 9_999 // a stale value
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// 30 units of 10 kB per second: 2.4 Mbit/s, for 6 s.
	for i := 0; i <= 6; i++ {
		e.api.measure(lister, now.Add(time.Duration(i)*time.Second))
		for range 30 {
			src.Write(&media.Unit{Track: 0, Key: true, Data: make([]byte, 10_000)})
		}
	}
	var b Broadcast
	_, body := e.do(t, "GET", "/LiveApp/rest/v2/broadcasts/alpha", "")
	if err := json.Unmarshal([]byte(body), &b); err != nil || b.Bitrate != 2_400_000 {
		t.Fatalf("GET alpha: bitrate %d (%v) %s, want 2400000", b.Bitrate, err, body)
	}
	var list []Broadcast
	_, body = e.do(t, "GET", "/LiveApp/rest/v2/broadcasts/list/0/10", "")
	if err := json.Unmarshal([]byte(body), &list); err != nil || len(list) != 3 || list[0].Bitrate != 2_400_000 || list[1].Bitrate != 0 {
		t.Fatalf("list: %s", body)
	}
	if infos := streamInfos(t, e, "/LiveApp/rest/v2/broadcasts/alpha/stream-info"); infos[0].VideoBitrate != 2_400_000 {
		t.Fatalf("stream-info = %+v", infos)
	}
	// The record gets it (once; unchanged values are not written again).
	e.api.recordBitrates(context.Background(), now.Add(6*time.Second))
	rec, err := e.store.Broadcast(context.Background(), alpha)
	if err != nil || rec.Bitrate != 2_400_000 {
		t.Fatalf("record bitrate = %d %v", rec.Bitrate, err)
	}
	if again := e.api.meter.toRecord(); len(again) != 0 {
		t.Fatalf("unchanged bitrates to record again: %v", again)
	}
	// Once the stream is no longer published here, the record's value shows.
	e.api.measure(published{}, now.Add(7*time.Second))
	if _, ok := e.api.meter.rate(alpha); ok {
		t.Fatal("a rate for a stream no longer published here")
	}
}

// TestRun: Run measures until its context ends, and returns at once
// without streams to measure.
func TestRun(t *testing.T) {
	e := newEnv(t, nil)
	if err := e.api.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	alpha := stream.Key{App: "LiveApp", ID: "alpha"}
	src := media.NewStream([]media.Track{{Codec: media.H264, ClockRate: 90000}}, media.StreamConfig{})
	t.Cleanup(src.Close)
	lister := published{fakeStreams{streams: map[stream.Key]*media.Stream{alpha: src}}}
	e2 := newEnv(t, func(c *Config) {
		c.Streams, c.Now = lister, time.Now
		c.Meter = MeterConfig{Every: 10 * time.Millisecond, Window: 100 * time.Millisecond, RecordEvery: 20 * time.Millisecond}
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e2.api.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		src.Write(&media.Unit{Track: 0, Key: true, Data: make([]byte, 1000)})
		rec, err := e2.store.Broadcast(context.Background(), alpha)
		if err == nil && rec.Bitrate > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Run never recorded a bitrate")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
