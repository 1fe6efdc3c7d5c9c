package main

import (
	"fmt"
	"regexp"
	"slices"
	"time"
)

// dist is a distribution summary in milliseconds.
type dist struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	Max float64 `json:"max"`
}

func summarize(v []float64) dist {
	if len(v) == 0 {
		return dist{}
	}
	s := slices.Clone(v)
	slices.Sort(s)
	q := func(p float64) float64 { return round1(s[int(p*float64(len(s)-1)+0.5)]) }
	return dist{N: len(s), P50: q(0.50), P95: q(0.95), Max: round1(s[len(s)-1])}
}

func round1(f float64) float64 { return float64(int64(f*10+0.5)) / 10 }

// result is one run: one mode, N viewers, one target. It is printed as one
// JSON line.
type result struct {
	Label     string  `json:"label,omitempty"`
	Mode      string  `json:"mode"`
	URL       string  `json:"url"`
	Viewers   int     `json:"viewers"`              // started (with churn: the audience kept up)
	ViewerGRO bool    `json:"viewer_gro,omitempty"` // WebRTC viewers' sockets took UDP GRO (--viewer-gro)
	Connected int     `json:"connected"`            // got a first decodable frame (with churn: sessions)
	Active    int     `json:"active"`               // showed a frame in the last second of the window
	Failed    int     `json:"failed"`               // ended with an error (with churn: sessions)
	WindowS   float64 `json:"window_s"`
	// Churn: each viewer left after a lifetime in this range ("5s-15s")
	// and a new one took its place; Sessions counts the viewers started
	// over the run, warm-up included, and Connected, Failed and the
	// time to first frame are over them.
	Churn    string `json:"churn,omitempty"`
	Sessions int    `json:"sessions,omitempty"`

	Bytes     int64   `json:"bytes"`   // all viewers, inside the window
	RxMbps    float64 `json:"rx_mbps"` // all viewers
	Frames    int64   `json:"frames"`  // decodable video frames, all viewers
	FPSPerVwr float64 `json:"fps_per_viewer"`
	// WebRTC: audio RTP packets received, all viewers, inside the window,
	// and per second per viewer (0: the server sent no audio, e.g. no
	// transcoder plugin to bridge the clip's AAC to Opus).
	AudioPackets int64   `json:"audio_packets"`
	AudioPPS     float64 `json:"audio_pps_per_viewer"`

	LossPct    float64 `json:"loss_pct"`     // RTP: lost/expected; HLS: (missing+errors)/(fetched+missing+errors)
	LostPkts   int64   `json:"lost_packets"` // RTP, after NACK
	LatePkts   int64   `json:"late_packets"` // RTP: filled a gap (NACK-repaired or reordered)
	HTTPErrors int     `json:"http_errors"`
	Missing    int     `json:"missing"` // HLS segments or parts skipped
	Stalls     int     `json:"stalls"`  // gaps > 1 s between displayed frames
	Rebuffers  int     `json:"rebuffers"`
	Stuck      int     `json:"playlist_stuck"`

	TTFF dist `json:"ttff_ms"`
	// WebRTC: first frame after the connection came up, the server's part
	// of TTFF (its GOP cache) without signalling, ICE and DTLS.
	TTFFConn dist `json:"ttff_after_connect_ms"`
	// WebRTC: from the viewer's last DTLS handshake datagram leaving it to
	// the first frame's last packet reaching its socket (kernel receive
	// timestamp): the server's part of TTFF (finishing the handshake,
	// then its GOP cache) with neither time taken after the generator's
	// own queueing, which at hundreds of viewers on shared cores delays
	// both when pion reports the connection and when it hands the frame
	// over. Only viewers whose sockets gave both times.
	TTFFHandshake dist `json:"ttff_after_handshake_ms"`
	// send -> display (player clock; WebRTC: when pion hands the frame's
	// last packet over).
	Latency dist `json:"latency_ms"`
	// send -> arrival at the viewer. WebRTC: the frame's last packet at the
	// viewer's UDP socket (kernel receive timestamp, SO_TIMESTAMPNS; where
	// not known, e.g. off Linux, as latency_ms), which leaves out the
	// generator's own receive chain. HLS: the segment or part fully
	// downloaded (its HTTP response body read).
	RecvLat   dist             `json:"recv_latency_ms"`
	Stamped   bool             `json:"stamped"` // latency figures come from the harness's SEI
	Publisher *publisherResult `json:"publisher,omitempty"`
	Server    *procUsage       `json:"server,omitempty"`
	Generator procUsage        `json:"generator"`
	// ServerGauges are gauges read from the server's Prometheus page
	// (--server-metrics), by name: before the viewers joined, at the end
	// of the window, and once they had left.
	ServerGauges map[string]gaugeReadings `json:"server_gauges,omitempty"`
	Errors       []string                 `json:"errors,omitempty"` // first few distinct viewer errors
	// ErrorCounts counts the viewers that failed by their error, the
	// numbers in its words replaced by # (so that "CPU at 93%" and "CPU
	// at 95%" count as one reason; URLs are left alone); at most maxErrorKinds kinds, the rest as "other".
	ErrorCounts map[string]int `json:"error_counts,omitempty"`

	// The segment-availability probe (--hls-ref; hls and llhls runs):
	// when each media segment was listed at the played URL minus when it
	// was listed at the reference URL (the same stream at its origin),
	// for the segments listed at the reference inside the window, matched
	// by the stamp of their first video frame.
	SegmentRef         string `json:"segment_ref_url,omitempty"`
	SegmentDelay       *dist  `json:"segment_delay_ms,omitempty"`
	SegmentsMatched    int    `json:"segments_matched,omitempty"`
	SegmentsRefOnly    int    `json:"segments_ref_only,omitempty"`    // listed at the reference only
	SegmentsPlayedOnly int    `json:"segments_played_only,omitempty"` // listed at the played URL only
	SegmentProbeErr    string `json:"segment_probe_error,omitempty"`  // the first problem of each side
}

// name is how tables and errors name the run: MODE:VIEWERS[@CHURN].
func (r result) name() string { return runName(r.Mode, r.Viewers, r.Churn) }

// maxErrorKinds bounds the distinct errors counted in a result.
const maxErrorKinds = 10

// numberWord is a number that starts a word (after a space): counts,
// percentages and durations in a message, not the digits of its URLs.
var numberWord = regexp.MustCompile(` [0-9]+(\.[0-9]+)?`)

// errorKind is an error's message with its numbers replaced by #.
func errorKind(msg string) string { return numberWord.ReplaceAllString(msg, " #") }

type publisherResult struct {
	VideoFrames int64   `json:"video_frames"`
	LateMaxMs   float64 `json:"late_max_ms"` // worst lag of a send behind the clip's clock
	Err         string  `json:"error,omitempty"`
}

// aggregate folds the viewers' stats into a result.
func aggregate(r *result, stats []*viewerStats, winStart, winEnd time.Time) {
	r.Viewers = len(stats)
	r.WindowS = round1(winEnd.Sub(winStart).Seconds())
	var lat, recv, ttff, ttffConn, ttffHS []float64
	var expected int64
	var fetched int
	seen := map[string]bool{}
	for _, s := range stats {
		s.mu.Lock()
		if !s.firstFrame.IsZero() {
			r.Connected++
			ttff = append(ttff, ms(s.firstFrame.Sub(s.start)))
			if !s.connected.IsZero() {
				// pion reports the state from its own goroutine, which may run
				// after the first frame: then the cache was instant.
				ttffConn = append(ttffConn, max(0, ms(s.firstFrame.Sub(s.connected))))
			}
			if !s.handshakeSent.IsZero() && s.firstArrival.After(s.handshakeSent) {
				ttffHS = append(ttffHS, ms(s.firstArrival.Sub(s.handshakeSent)))
			}
			// (A churning viewer started after the window, as the run
			// stopped, has played only after it.)
			if s.firstFrame.Before(winEnd) && winEnd.Sub(s.lastFrame) <= time.Second && !s.gone(winEnd) {
				r.Active++
			}
		}
		err := s.err
		if err == nil && s.firstFrame.IsZero() && s.retryErr != nil {
			err = fmt.Errorf("never played: %w", s.retryErr)
		}
		if err != nil {
			r.Failed++
			msg := err.Error()
			if !seen[msg] && len(r.Errors) < 5 {
				seen[msg] = true
				r.Errors = append(r.Errors, msg)
			}
			if r.ErrorCounts == nil {
				r.ErrorCounts = map[string]int{}
			}
			kind := errorKind(msg)
			if _, ok := r.ErrorCounts[kind]; !ok && len(r.ErrorCounts) >= maxErrorKinds {
				kind = "other"
			}
			r.ErrorCounts[kind]++
		}
		r.Bytes += s.bytes
		r.Frames += s.frames
		r.AudioPackets += int64(s.audioPackets)
		r.Stalls += s.stalls
		r.Rebuffers += s.rebuffers
		r.Stuck += s.stuck
		r.HTTPErrors += s.httpErrors
		r.Missing += s.missing
		r.LostPkts += s.lost
		r.LatePkts += s.late
		expected += s.expected
		lat = append(lat, s.latencies...)
		recv = append(recv, s.recvLatency...)
		fetched += s.fetched
		s.mu.Unlock()
	}
	r.TTFF, r.Latency, r.RecvLat = summarize(ttff), summarize(lat), summarize(recv)
	r.TTFFConn, r.TTFFHandshake = summarize(ttffConn), summarize(ttffHS)
	r.Stamped = len(lat) > 0
	if w := winEnd.Sub(winStart).Seconds(); w > 0 {
		r.RxMbps = round1(float64(r.Bytes) * 8 / w / 1e6)
		if r.Connected > 0 {
			r.FPSPerVwr = round1(float64(r.Frames) / w / float64(r.Connected))
			r.AudioPPS = round1(float64(r.AudioPackets) / w / float64(r.Connected))
		}
	}
	if expected > 0 {
		r.LossPct = round2(100 * float64(r.LostPkts) / float64(expected))
	} else if bad := r.Missing + r.HTTPErrors; bad > 0 {
		r.LossPct = round2(100 * float64(bad) / float64(fetched+bad))
	}
}

// churned makes a churn run's figures the audience's: Viewers the
// audience kept up, Sessions the viewers started, frames per viewer over
// the audience.
func (r *result) churned(st step) {
	r.Churn, r.Sessions, r.Viewers = st.Churn.String(), r.Viewers, st.Viewers
	if r.WindowS > 0 {
		r.FPSPerVwr = round1(float64(r.Frames) / r.WindowS / float64(r.Viewers))
		r.AudioPPS = round1(float64(r.AudioPackets) / r.WindowS / float64(r.Viewers))
	}
}

func round2(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }
