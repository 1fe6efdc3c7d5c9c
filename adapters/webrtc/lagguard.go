package webrtc

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/colony-live/colony/core/stream"
)

// The send-lag guard (Config.LagLimit): every lagSampleEvery the server
// takes each viewer's worst send lag of the period (sendLag), or its
// fan-out's current lag if that is worse (liveFanout.lagAt), and keeps
// the viewers' figure (serverLag). While that figure is past the limit, new
// viewers are refused (register); once it has stayed past the limit for
// shedAfter, viewers that are behind are shed, the newest first, a tenth
// at a time, until the others catch up.
const (
	lagSampleEvery = time.Second
	// shedAfter: how long the figure stays past the limit before viewers
	// are shed. It is also the pause after shedding, so that the figure
	// shows the effect before more are shed.
	shedAfter = 2 * time.Second
	// shedShare: at most one viewer in shedShare (and at least one) is
	// shed at a time.
	shedShare = 10
)

// errShed ends a viewer shed by the send-lag guard.
var errShed = errors.New("viewer shed: the server sends frames too late (past its capacity)")

// lagGuard is the state of the send-lag guard, guarded by Server.mu.
type lagGuard struct {
	figure    time.Duration // the viewers' send lag over the last period
	overSince time.Time     // since when the figure is past the limit (zero: it is not)
	shedHold  time.Time     // no shedding before then
	lags      []time.Duration
	cands     []*player

	refusedCPU, refusedLag, shed uint64
}

// serverLag is the send lag of the server as a whole from the viewers'
// lags of a period: the 90th percentile (nearest rank), but never the
// worst viewer alone, so that one viewer late for reasons of its own (a
// blocked socket) does not count as the server's lag; 0 for fewer than
// two viewers. lags is sorted in place.
func serverLag(lags []time.Duration) time.Duration {
	n := len(lags)
	if n < 2 {
		return 0
	}
	slices.Sort(lags)
	k := (9*n+9)/10 - 1 // ceil(0.9 n) - 1
	return lags[min(k, n-2)]
}

// checkLag takes the viewers' send lags of the period ending now, keeps
// the server's figure for admission and, once the figure has been past the
// limit for shedAfter, sheds viewers whose own lag is past it, the newest
// first, up to one viewer in shedShare, every shedAfter until it is back.
//
// The figure is what every viewer suffers, so it is what must not run
// away: a server that stays a little past its capacity would otherwise
// keep all its viewers half a second or more behind, refusing newcomers
// but never recovering.
//
// The newest go first: they joined last, when the server was already
// nearest its capacity, so shedding them undoes the admissions that took
// it past; a viewer watching for long keeps its session. (The slowest
// would be a poor choice: when the machine is saturated every viewer's
// goroutine is late alike, and which is slowest is chance.)
func (s *Server) checkLag(now time.Time) {
	limit := s.cfg.LagLimit
	s.mu.Lock()
	g := &s.lagGuard
	lags, cands := g.lags[:0], g.cands[:0]
	for _, p := range s.sessions {
		pl := p.play
		if pl == nil || p.ctx.Err() != nil {
			continue
		}
		l, ok := pl.lag.take()
		// The fan-out's own lag counts too: past capacity it falls so
		// far behind that most of its viewers are sent nothing in a
		// period, and would otherwise go unmeasured, leaving the few
		// that were to decide (and to be shed).
		if f := pl.fan.Load(); f != nil {
			if fl := f.lagAt(now); fl > 0 && (!ok || fl > l) {
				l, ok = fl, true
			}
		}
		if !ok {
			continue // no frame sent: nothing learnt
		}
		lags = append(lags, l)
		if l > limit {
			cands = append(cands, pl)
		}
	}
	measured := len(lags)
	g.figure = serverLag(lags)
	figure := g.figure
	switch {
	case figure <= limit:
		g.overSince = time.Time{}
	case g.overSince.IsZero():
		g.overSince = now
	}
	var shed int
	if figure > limit && now.Sub(g.overSince) >= shedAfter && len(cands) > 0 && !now.Before(g.shedHold) {
		slices.SortFunc(cands, func(a, b *player) int { return cmp.Compare(b.seq, a.seq) })
		shed = min(len(cands), max(1, s.nViewers/shedShare))
		for _, pl := range cands[:shed] {
			pl.close(errShed)
		}
		g.shed += uint64(shed)
		g.shedHold = now.Add(shedAfter)
	}
	nCands, viewers, total := len(cands), s.nViewers, g.shed
	clear(cands) // no references kept to ended players
	g.lags, g.cands = lags, cands[:0]
	s.mu.Unlock()
	if shed > 0 {
		s.log.Warn("shedding WebRTC viewers: frames sent too late",
			"shed", shed, "candidates", nCands, "viewers", viewers, "measured", measured,
			"lag", figure.Round(time.Millisecond), "limit", limit, "shed_total", total)
	}
}

// lagging says why a new viewer of key is refused for lag, or "": while
// the viewers' figure is past Config.LagLimit, and while key's fan-outs
// are, now, delivering a unit later than that. The figure is a second old
// at worst; a crowd joining within that second can take the server far
// past its capacity before the figure shows it (400 viewers asked on 2
// cores: 359 admitted, then 145 shed, BENCHMARKS.md). A fan-out that has
// fallen behind shows it at once: between units its lag is 0, and within
// one it is how long the unit has waited. s.mu is held.
func (s *Server) lagging(key stream.Key, now time.Time) string {
	limit := s.cfg.LagLimit
	if limit <= 0 {
		return ""
	}
	if fig := s.lagGuard.figure; fig > limit {
		return fmt.Sprintf("WebRTC viewers get their frames %v late, past the limit of %v", fig.Round(time.Millisecond), limit)
	}
	var lag time.Duration
	for _, f := range s.fanouts {
		if f.key == key {
			lag = max(lag, f.lagAt(now))
		}
	}
	if lag > limit {
		return fmt.Sprintf("the stream's WebRTC frames leave %v late, past the limit of %v", lag.Round(time.Millisecond), limit)
	}
	return ""
}
