package hls

import "sync/atomic"

// segmentBytes counts the segment memory mapped outside the Go heap, and
// how much of it is in a muxer's window. The rest has left every window
// and is released by its cleanup once no reader holds it and the garbage
// collector has found so, which the collector paces by the Go heap, not by
// this memory: the metrics colony_hls_segment_memory_bytes and
// colony_hls_segment_memory_expired_bytes show both. A nil *segmentBytes
// counts nothing (storage used outside a server).
type segmentBytes struct {
	mapped   atomic.Int64 // mapped, not yet released
	windowed atomic.Int64 // of which in a window (ended, not yet removed)
}

func (s *segmentBytes) addMapped(n int) {
	if s != nil {
		s.mapped.Add(int64(n))
	}
}

// enter and leave count n bytes into and out of a window.
func (s *segmentBytes) enter(n int) {
	if s != nil {
		s.windowed.Add(int64(n))
	}
}

func (s *segmentBytes) leave(n int) { s.enter(-n) }

// total is the memory mapped, in windows or not.
func (s *segmentBytes) total() int64 {
	if s == nil {
		return 0
	}
	return s.mapped.Load()
}

// expired is the memory still mapped outside every window.
func (s *segmentBytes) expired() int64 {
	if s == nil {
		return 0
	}
	return max(0, s.mapped.Load()-s.windowed.Load())
}
