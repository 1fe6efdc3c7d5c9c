package webrtc

import "time"

// Stats are the server's admission figures.
type Stats struct {
	// Viewers is the number of WebRTC viewers now.
	Viewers int
	// SendLag is the viewers' send lag over the last second (see
	// Config.LagLimit); 0 when the guard is off.
	SendLag time.Duration
	// RefusedByCPU and RefusedByLag count the viewers refused since start
	// because of Config.CPULimit and Config.LagLimit.
	RefusedByCPU, RefusedByLag uint64
	// Shed counts the viewers closed by the send-lag guard since start.
	Shed uint64
	// DirectViewers counts the viewers sent on the direct SRTP path
	// (srtpdirect.go) since start.
	DirectViewers uint64
	// FanoutSkips counts the times a fan-out fell so far behind its stream
	// that it skipped to a fresh keyframe (a video fan-out) or dropped an
	// old frame (an audio-only one) since start; see fanoutMaxLag.
	FanoutSkips uint64
	// Retransmitted counts the video packets resent to viewers for their
	// NACKs since start; RetransmitsRefused those asked for and not resent
	// because the viewer's retransmission budget was spent (nack.go).
	Retransmitted, RetransmitsRefused uint64
	// AudioPacked: the audience is large enough for Opus audio to go in
	// packets of several frames (Config.AudioPackViewers).
	AudioPacked bool
}

// Stats returns the server's admission figures.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := &s.lagGuard
	return Stats{Viewers: s.nViewers, SendLag: g.figure, RefusedByCPU: g.refusedCPU, RefusedByLag: g.refusedLag, Shed: g.shed, DirectViewers: s.directViewers.Load(), FanoutSkips: s.fanoutSkips.Load(),
		Retransmitted: s.api.nack.resent.Load(), RetransmitsRefused: s.api.nack.refused.Load(),
		AudioPacked: s.audioPacked.Load()}
}
