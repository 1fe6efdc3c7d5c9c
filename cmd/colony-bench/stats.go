package main

import (
	"sync"
	"time"
)

// stallGap is the gap between displayed frames that counts as a stall.
const stallGap = time.Second

// startUp is how long after a viewer's first frame its frames stay out of
// the latency figures: what comes first is its start-up (a server's cached
// GOP, sent ahead of the live edge to show a picture at once, then the
// player catching up), which the time to first frame measures. Viewers
// that join before the window, as all do without churn, are past it.
const startUp = time.Second

// viewerStats is what one viewer measured. Its methods are safe for
// concurrent use (an LL-HLS viewer has several goroutines).
type viewerStats struct {
	win   *window
	start time.Time // when the viewer began to connect

	mu         sync.Mutex
	firstFrame time.Time // first decodable frame displayed
	connected  time.Time // WebRTC: ICE and DTLS done (the media may flow)
	// WebRTC: when the viewer sent its last DTLS handshake datagram
	// (zero: not known), and when the first frame's last packet reached
	// its socket (the kernel's receive time where known).
	handshakeSent time.Time
	firstArrival  time.Time
	lastFrame     time.Time // last frame displayed
	frames        int64
	bytes         int64
	latencies     []float64 // display time - send time, ms
	recvLatency   []float64 // arrival time - send time, ms
	stalls        int
	rebuffers     int
	stuck         int       // HLS: playlist did not advance for 2 target durations
	httpErrors    int       // HLS: failed requests (after the first frame)
	missing       int       // HLS: segments or parts skipped because they left the playlist
	fetched       int       // HLS: media segments or parts downloaded
	audioPackets  int       // WebRTC: audio RTP packets received
	expected      int64     // RTP: packets expected in the window
	lost          int64     // RTP: packets never received (after NACK)
	late          int64     // RTP: packets that filled a gap (NACK-repaired or reordered)
	left          time.Time // with churn: when the viewer left (zero: it played to the end)
	err           error     // why the viewer ended early
	retryErr      error     // why the last attempt to start playing failed
}

func newViewerStats(w *window, start time.Time) *viewerStats {
	return &viewerStats{win: w, start: start}
}

// frame records a decodable video frame shown at display, which arrived at
// arrival, with what the access unit carried.
func (s *viewerStats) frame(display, arrival time.Time, info auInfo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.firstFrame.IsZero() {
		s.firstFrame, s.firstArrival = display, arrival
	} else if display.Sub(s.lastFrame) > stallGap && s.win.contains(display) {
		s.stalls++
	}
	s.lastFrame = display
	if !s.win.contains(arrival) {
		return
	}
	s.frames++
	if info.stamped && display.Sub(s.firstFrame) >= startUp {
		sent := time.Unix(0, info.stamp)
		s.latencies = append(s.latencies, ms(display.Sub(sent)))
		s.recvLatency = append(s.recvLatency, ms(arrival.Sub(sent)))
	}
}

// received counts n bytes of media or playlist that arrived at t.
func (s *viewerStats) received(t time.Time, n int) {
	if !s.win.contains(t) {
		return
	}
	s.mu.Lock()
	s.bytes += int64(n)
	s.mu.Unlock()
}

// count adds to one of the event counters, if t is in the window.
func (s *viewerStats) count(t time.Time, field *int, n int) {
	if !s.win.contains(t) {
		return
	}
	s.mu.Lock()
	*field += n
	s.mu.Unlock()
}

func (s *viewerStats) rebuffer(t time.Time)      { s.count(t, &s.rebuffers, 1) }
func (s *viewerStats) playlistStuck(t time.Time) { s.count(t, &s.stuck, 1) }
func (s *viewerStats) httpError(t time.Time)     { s.count(t, &s.httpErrors, 1) }
func (s *viewerStats) missed(t time.Time, n int) { s.count(t, &s.missing, n) }
func (s *viewerStats) fetchedOne(t time.Time)    { s.count(t, &s.fetched, 1) }
func (s *viewerStats) audioPacket(t time.Time)   { s.count(t, &s.audioPackets, 1) }

// markConnected records when a WebRTC viewer's connection came up (the
// first time only): t, when pion said so, and handshake (zero: not known),
// when the viewer sent its last DTLS handshake datagram, after which the
// server can finish the handshake and start sending. Colony answers as
// the DTLS server (a=setup:passive), so that datagram is the client's
// last flight; to a server in the client's role it is the viewer's own
// Finished, which that server waits for. A flight resent after a timeout
// moves it later.
func (s *viewerStats) markConnected(t, handshake time.Time) {
	s.mu.Lock()
	if s.connected.IsZero() {
		s.connected, s.handshakeSent = t, handshake
	}
	s.mu.Unlock()
}

func (s *viewerStats) hasFirstFrame() bool { return !s.firstFrameTime().IsZero() }
func (s *viewerStats) setPackets(expected, lost, late int64) {
	s.mu.Lock()
	s.expected, s.lost, s.late = expected, lost, late
	s.mu.Unlock()
}

func (s *viewerStats) firstFrameTime() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.firstFrame
}

// retrying records why an attempt to start playing failed; it is reported
// if the viewer never plays.
func (s *viewerStats) retrying(err error) {
	s.mu.Lock()
	s.retryErr = err
	s.mu.Unlock()
}

// fail records why the viewer stopped (the first reason only).
func (s *viewerStats) fail(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
}

// leave records that a churning viewer left at t.
func (s *viewerStats) leave(t time.Time) {
	s.mu.Lock()
	s.left = t
	s.mu.Unlock()
}

// gone reports whether the viewer had left by t. s.mu is held.
func (s *viewerStats) gone(t time.Time) bool { return !s.left.IsZero() && s.left.Before(t) }

// finish counts a frozen picture at the end of the window, or when the
// viewer left inside it, as a stall.
func (s *viewerStats) finish(end time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gone(end) {
		if !s.win.contains(s.left) {
			return // left before the window
		}
		end = s.left
	}
	if !s.lastFrame.IsZero() && end.Sub(s.lastFrame) > stallGap {
		s.stalls++
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
