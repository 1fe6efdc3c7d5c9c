package webrtc

import "time"

// abrObs is one observation of a viewer's reception of its video: an RTCP
// receiver report, and the viewer's bandwidth estimate when it sends one.
type abrObs struct {
	At time.Time
	// Loss is the fraction of the video packets lost since the previous
	// report (0 to 1).
	Loss float64
	// REMB is the viewer's receiver-estimated maximum bitrate in bit/s;
	// 0 when it sends none (browsers that use transport-wide feedback).
	REMB float64
	// Rate is the bitrate the viewer is being sent now, in bit/s; 0 when
	// unknown.
	Rate float64
}

// abrParams tune the automatic rendition choice.
type abrParams struct {
	// DownLoss: a report with more loss than this is a bad one; bad
	// reports for DownAfter in a row step one rung down.
	DownLoss  float64
	DownAfter time.Duration
	// UpLoss: a report with less loss than this (and no REMB below the
	// current rate times UpHeadroom) is a quiet one; quiet reports for
	// UpAfter in a row step one rung up.
	UpLoss     float64
	UpAfter    time.Duration
	UpHeadroom float64
}

// defaultABR: down after 2 s of more than 10% loss, up after 10 s of less
// than 2% (and, with REMB, room for half as much again as now).
var defaultABR = abrParams{DownLoss: 0.10, DownAfter: 2 * time.Second, UpLoss: 0.02, UpAfter: 10 * time.Second, UpHeadroom: 1.5}

// abrState is the controller's state for one viewer. Rung 0 is the
// original stream, rung i its i-th rendition going down the ladder.
type abrState struct {
	Rung int
	// badSince and quietSince start the current run of bad or quiet
	// reports (zero: none).
	badSince, quietSince time.Time
}

// decideABR is the automatic rendition choice: given the state, one new
// observation and the number of rungs (the original plus its lower
// renditions), it returns the next state, whose Rung is the rung to send.
// It steps at most one rung per call, never above the original (0) nor
// below the last rung, and each step starts both runs afresh, so that the
// next step down needs DownAfter more of loss, and the next step up
// UpAfter more of quiet.
func decideABR(p abrParams, s abrState, o abrObs, rungs int) abrState {
	if s.Rung >= rungs {
		s.Rung = max(rungs-1, 0) // the ladder shrank
	}
	bad := o.Loss > p.DownLoss || (o.REMB > 0 && o.Rate > 0 && o.REMB < o.Rate)
	quiet := o.Loss < p.UpLoss && (o.REMB == 0 || o.Rate == 0 || o.REMB >= o.Rate*p.UpHeadroom)
	switch {
	case bad:
		s.quietSince = time.Time{}
		if s.badSince.IsZero() {
			s.badSince = o.At
		}
		if o.At.Sub(s.badSince) >= p.DownAfter && s.Rung+1 < rungs {
			return abrState{Rung: s.Rung + 1, quietSince: o.At}
		}
	case quiet:
		s.badSince = time.Time{}
		if s.quietSince.IsZero() {
			s.quietSince = o.At
		}
		if o.At.Sub(s.quietSince) >= p.UpAfter && s.Rung > 0 {
			return abrState{Rung: s.Rung - 1, quietSince: o.At}
		}
	default: // some loss: neither steps
		s.badSince, s.quietSince = time.Time{}, time.Time{}
	}
	return s
}
