package rest

import (
	"context"
	"errors"
	"math"
	"sync"
	"time"

	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
)

// MeterConfig sets how the API measures the bitrate of the streams
// published on its node (Server.Run does it).
type MeterConfig struct {
	// Every is how often the streams' byte counters are read (default 1 s).
	Every time.Duration
	// Window is the sliding window the bitrate is averaged over (default 5 s).
	Window time.Duration
	// RecordEvery is how often a measured bitrate that changed is written
	// into the stream's broadcast record, where the other nodes of a
	// cluster read it (default 5 s).
	RecordEvery time.Duration
}

func (c *MeterConfig) defaults() {
	if c.Every <= 0 {
		c.Every = time.Second
	}
	if c.Window <= 0 {
		c.Window = 5 * time.Second
	}
	if c.RecordEvery <= 0 {
		c.RecordEvery = 5 * time.Second
	}
}

// PublishedLister is implemented by a Config.Streams that lists the streams
// published (not pulled) on this node; the API measures their bitrate.
type PublishedLister interface {
	PublishedStreams() []stream.Key
}

// sample is a stream's byte counter at a time.
type sample struct {
	at    time.Time
	bytes uint64
}

// series is one stream's recent samples, oldest first.
type series struct {
	s       *media.Stream // a new stream (a new publisher) starts a new series
	samples []sample
}

// meter keeps the byte counters of the streams published here over a
// sliding window, and the bitrate last written to each record.
type meter struct {
	cfg MeterConfig

	mu       sync.Mutex
	series   map[stream.Key]*series
	recorded map[stream.Key]int
}

func newMeter(cfg MeterConfig) *meter {
	cfg.defaults()
	return &meter{cfg: cfg, series: map[stream.Key]*series{}, recorded: map[stream.Key]int{}}
}

// observe records s's byte counter for key at now.
func (m *meter) observe(key stream.Key, s *media.Stream, now time.Time, bytes uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	sr := m.series[key]
	if sr == nil || sr.s != s || (len(sr.samples) > 0 && bytes < sr.samples[len(sr.samples)-1].bytes) {
		sr = &series{s: s}
		m.series[key] = sr
	}
	sr.samples = append(sr.samples, sample{at: now, bytes: bytes})
	// Keep one sample at or before the window's start, so that the window
	// is covered whole.
	cut := now.Add(-m.cfg.Window)
	drop := 0
	for drop+1 < len(sr.samples) && !sr.samples[drop+1].at.After(cut) {
		drop++
	}
	sr.samples = append(sr.samples[:0], sr.samples[drop:]...)
}

// rate returns key's bitrate in bits per second over the window, once at
// least half a window has been observed.
func (m *meter) rate(key stream.Key) (int, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	sr := m.series[key]
	if sr == nil || len(sr.samples) < 2 {
		return 0, false
	}
	first, last := sr.samples[0], sr.samples[len(sr.samples)-1]
	d := last.at.Sub(first.at)
	if d < m.cfg.Window/2 || d <= 0 {
		return 0, false
	}
	return int(math.Round(float64(last.bytes-first.bytes) * 8 / d.Seconds())), true
}

// keep forgets the streams not in keys.
func (m *meter) keep(keys []stream.Key) {
	set := make(map[stream.Key]bool, len(keys))
	for _, k := range keys {
		set[k] = true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for k := range m.series {
		if !set[k] {
			delete(m.series, k)
			delete(m.recorded, k)
		}
	}
}

// toRecord returns the measured bitrates that differ by more than 5 % from
// the ones last recorded.
func (m *meter) toRecord() map[stream.Key]int {
	out := map[stream.Key]int{}
	m.mu.Lock()
	keys := make([]stream.Key, 0, len(m.series))
	for k := range m.series {
		keys = append(keys, k)
	}
	m.mu.Unlock()
	for _, k := range keys {
		r, ok := m.rate(k)
		if !ok {
			continue
		}
		m.mu.Lock()
		prev, had := m.recorded[k]
		m.mu.Unlock()
		if !had || math.Abs(float64(r-prev)) > 0.05*float64(prev) {
			out[k] = r
		}
	}
	return out
}

func (m *meter) setRecorded(k stream.Key, bps int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.series[k] != nil {
		m.recorded[k] = bps
	}
}

// errUnchanged aborts a record update with nothing to do.
var errUnchanged = errors.New("unchanged")

// Run measures the bitrate of the streams published on this node (when
// Config.Streams is a PublishedLister) until ctx ends: their byte counters
// every MeterConfig.Every, averaged over the window, shown by the broadcast
// endpoints and written into the broadcast records every RecordEvery. It
// returns nil at once when there is nothing to measure.
func (s *Server) Run(ctx context.Context) error {
	lister, ok := s.cfg.Streams.(PublishedLister)
	if !ok {
		return nil
	}
	tick := time.NewTicker(s.meter.cfg.Every)
	defer tick.Stop()
	lastRecord := s.cfg.Now()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		now := s.cfg.Now()
		s.measure(lister, now)
		if now.Sub(lastRecord) >= s.meter.cfg.RecordEvery {
			lastRecord = now
			s.recordBitrates(ctx, now)
		}
	}
}

// measure samples the byte counters of the streams published here.
func (s *Server) measure(lister PublishedLister, now time.Time) {
	keys := lister.PublishedStreams()
	for _, k := range keys {
		if st, ok := s.cfg.Streams.LocalStream(k); ok {
			s.meter.observe(k, st, now, st.Stats().BytesIn)
		}
	}
	s.meter.keep(keys)
}

// recordBitrates writes the measured bitrates that changed into the
// records of the streams live here (a rendition has no record: skipped).
func (s *Server) recordBitrates(ctx context.Context, now time.Time) {
	for k, bps := range s.meter.toRecord() {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := s.catalog.UpdateBroadcast(rctx, k, false, now, func(b *stream.Broadcast) error {
			if !b.Live() || b.Bitrate == bps {
				return errUnchanged
			}
			b.Bitrate = bps
			return nil
		})
		cancel()
		switch {
		case err == nil, errors.Is(err, errUnchanged):
			s.meter.setRecorded(k, bps)
		case errors.Is(err, ports.ErrNotFound):
			s.meter.setRecorded(k, bps) // nothing to update; do not ask again until it changes
		default:
			s.log.Debug("cannot record the measured bitrate", "stream", k.String(), "err", err)
		}
	}
}

// withMeasured returns b's JSON with the bitrate measured here when b is
// live and published here, else the recorded one.
func (s *Server) withMeasured(b stream.Broadcast) Broadcast {
	out := toJSON(b)
	if b.Live() {
		if bps, ok := s.meter.rate(b.Key); ok {
			out.Bitrate = bps
		}
	}
	return out
}
