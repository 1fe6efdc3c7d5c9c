package pluginhost

import (
	"errors"
	"time"
)

// swap asks the supervisor to move the session to plugin name.
func (s *session) swap(name string) {
	s.mu.Lock()
	s.want = name
	s.mu.Unlock()
	select {
	case s.swapCh <- struct{}{}:
	default:
	}
}

// supervise restarts failed generations, starts swaps and checks for
// hangs, until the source ends or the session is cancelled; then it ends
// the session.
func (s *session) supervise(g *generation) {
	defer s.end()
	cfg := s.h.cfg
	backoff := cfg.RestartBackoff
	failures := 0
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.srcDone:
			if cur := s.current(); cur != nil {
				t := time.NewTimer(cfg.DrainTimeout)
				select {
				case <-cur.recvDone:
				case <-t.C:
				case <-s.ctx.Done():
				}
				t.Stop()
			}
			s.log.Debug("session ended with its source")
			return
		case <-s.swapCh:
			s.mu.Lock()
			want := s.want
			s.mu.Unlock()
			if want == g.plugin {
				continue
			}
			ng, err := s.startGen(want)
			if err != nil {
				s.log.Error("cannot swap transcoder plugin; keeping the current one", "to", want, "from", g.plugin, "error", err)
				continue
			}
			s.setNext(ng)
			g = ng
		case <-tick.C:
			now := time.Now()
			for _, x := range []*generation{g, s.current()} {
				if x == nil || x.isDead() {
					continue
				}
				if x.proc.client.Exited() {
					x.fail(errors.New("the plugin process exited"))
				} else if why := x.stalled(now, cfg.StallTimeout); why != "" {
					x.fail(errors.New(why))
				} else if f := x.sendErr.Load(); f != nil && now.Sub(f.at) > 500*time.Millisecond {
					x.fail(f.err)
				}
				if x != g && x.isDead() {
					s.log.Warn("transcoder plugin being replaced failed", "plugin", x.plugin, "generation", x.n, "error", x.err)
					s.kill(x)
				}
			}
		case <-g.dead:
			s.log.Warn("transcoder plugin failed; restarting it", "plugin", g.plugin, "pid", g.proc.pid,
				"generation", g.n, "error", g.err)
			if g.outputs.Load() > 0 {
				failures, backoff = 0, cfg.RestartBackoff
			} else {
				failures++
			}
			s.kill(g)
			ng, ok := s.restart(&failures, &backoff)
			if !ok {
				return
			}
			g = ng
		}
	}
}

// restart starts a replacement generation, with backoff, and makes it the
// next one; false when the session should end instead.
func (s *session) restart(failures *int, backoff *time.Duration) (*generation, bool) {
	cfg := s.h.cfg
	for {
		if *failures >= cfg.MaxFailures {
			s.log.Error("transcoder plugin keeps failing; ending this session's renditions", "failures", *failures)
			return nil, false
		}
		t := time.NewTimer(*backoff)
		select {
		case <-t.C:
		case <-s.ctx.Done():
			t.Stop()
			return nil, false
		case <-s.srcDone:
			t.Stop()
			return nil, false
		}
		*backoff = min(*backoff*2, cfg.MaxRestartBackoff)
		s.mu.Lock()
		want := s.want
		s.mu.Unlock()
		ng, err := s.startGen(want)
		if err != nil {
			*failures++
			s.log.Error("cannot restart transcoder plugin", "plugin", want, "error", err, "failures", *failures)
			continue
		}
		s.mu.Lock()
		s.restarts++
		s.mu.Unlock()
		s.setNext(ng)
		return ng, true
	}
}
