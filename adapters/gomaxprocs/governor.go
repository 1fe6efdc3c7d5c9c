// Package gomaxprocs sizes the Go scheduler to the work the process has.
//
// Go keeps GOMAXPROCS processors (Ps) ready. When a goroutine becomes
// runnable while a P is idle, the runtime wakes a spare thread to look for
// it, which finds nothing, spins a while and parks again. A media server
// under light load (HLS requests, a few streams) is woken thousands of times
// a second by its sockets, and on a small virtual machine those thread wake-
// ups cost more than the serving: at 500 HLS viewers on 2 cores, Colony used
// 0.18 cores with two Ps and 0.13 with one (BENCHMARKS.md).
//
// The Governor measures the process's CPU time and keeps GOMAXPROCS at what
// that load needs: it adds Ps as soon as the ones it has are busy, and
// removes them only after the load has stayed low for a while. It never goes
// above the runtime's own choice (the machine's or cgroup's CPUs, or the
// GOMAXPROCS environment variable).
package gomaxprocs

import (
	"context"
	"log/slog"
	"math"
	"runtime"
	"sync/atomic"
	"time"
)

// Policy decides how many Ps a measured load needs.
type Policy struct {
	Min, Max int
	// Up: add Ps when the process uses more than Up cores per P it has.
	Up float64
	// Down: remove Ps when the process has used less than Down cores per P
	// it would keep, at every sample for DownAfter.
	Down      float64
	DownAfter time.Duration
}

// DefaultPolicy is the governor's policy for a process allowed max Ps:
// grow past 0.8 cores per P, shrink when the load has stayed under 0.75
// cores per remaining P for 10 s. The two are close without flapping
// because the load is measured with the Ps the process has, and the same
// work costs no less with more of them (waking the idle ones is the very
// cost the governor saves: 0.65 cores at 200 WebRTC viewers with two Ps
// against 0.45 with one, BENCHMARKS.md); so a load under 0.75 with two Ps
// is under 0.8 with one.
func DefaultPolicy(max int) Policy {
	return Policy{Min: 1, Max: max, Up: 0.8, Down: 0.75, DownAfter: 10 * time.Second}
}

// Next returns the Ps wanted at a load of used cores with cur Ps, given the
// highest load seen over the last DownAfter (peak, at least used) and
// whether that window is full yet.
func (p Policy) Next(cur int, used, peak float64, windowFull bool) int {
	n := cur
	switch {
	case used > p.Up*float64(cur):
		// Busy: grow at least by one, at once to what the load needs, and
		// double when a P is saturated (its load cannot show more than it).
		n = max(cur+1, int(math.Ceil(used/p.Up)))
		if used > 0.9*float64(cur) {
			n = max(n, 2*cur)
		}
	case windowFull:
		if want := int(math.Ceil(peak / p.Down)); want < cur {
			n = want
		}
	}
	return min(max(n, p.Min, 1), max(p.Max, 1))
}

// Config configures a Governor. Zero values take the defaults.
type Config struct {
	Policy   Policy        // DefaultPolicy(runtime.GOMAXPROCS(0)) if Max is 0
	Interval time.Duration // sampling period, 500 ms
	Logger   *slog.Logger
	// CPUTime returns the process's CPU time so far (user and system);
	// Set sets GOMAXPROCS and returns the previous value. Tests replace them.
	CPUTime func() (time.Duration, error)
	Set     func(int) int
	// Now returns the current time (for the load's denominator).
	Now func() time.Time
}

// Governor adjusts GOMAXPROCS to the process's CPU use. Run drives it.
type Governor struct {
	cfg     Config
	procs   atomic.Int64
	changes atomic.Int64
	// samples of the last DownAfter: their loads, oldest first.
	window []float64
	size   int
}

// New returns a governor; it does nothing until Run.
func New(cfg Config) *Governor {
	if cfg.Policy.Max == 0 {
		cfg.Policy = DefaultPolicy(runtime.GOMAXPROCS(0))
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 500 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.CPUTime == nil {
		cfg.CPUTime = processCPUTime
	}
	if cfg.Set == nil {
		cfg.Set = runtime.GOMAXPROCS
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	g := &Governor{cfg: cfg}
	g.size = max(1, int(cfg.Policy.DownAfter/cfg.Interval))
	g.window = make([]float64, 0, g.size)
	g.procs.Store(int64(cfg.Set(0)))
	return g
}

// Procs returns GOMAXPROCS as the governor last set or found it.
func (g *Governor) Procs() int { return int(g.procs.Load()) }

// Changes returns how many times the governor has changed GOMAXPROCS.
func (g *Governor) Changes() int64 { return g.changes.Load() }

// Run samples the process's CPU use every interval and sets GOMAXPROCS,
// until ctx ends; then it restores the Ps the runtime had chosen.
func (g *Governor) Run(ctx context.Context) error {
	t := time.NewTicker(g.cfg.Interval)
	defer t.Stop()
	defer g.set(g.cfg.Policy.Max, 0)
	// Without a measure of the load, the runtime's choice is left alone.
	noCPU := func(err error) error {
		g.cfg.Logger.Warn("gomaxprocs: cannot read the process's CPU time; not adjusting", "err", err)
		return nil
	}
	lastCPU, err := g.cfg.CPUTime()
	if err != nil {
		return noCPU(err)
	}
	lastT := g.cfg.Now()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		cpu, err := g.cfg.CPUTime()
		if err != nil {
			return noCPU(err)
		}
		now := g.cfg.Now()
		wall := now.Sub(lastT)
		if wall <= 0 {
			continue
		}
		used := float64(cpu-lastCPU) / float64(wall)
		lastCPU, lastT = cpu, now
		g.step(used)
	}
}

// step records one sample of used cores and applies the policy.
func (g *Governor) step(used float64) {
	if len(g.window) == g.size {
		copy(g.window, g.window[1:])
		g.window = g.window[:g.size-1]
	}
	g.window = append(g.window, used)
	peak := 0.0
	for _, u := range g.window {
		peak = max(peak, u)
	}
	cur := g.Procs()
	if n := g.cfg.Policy.Next(cur, used, peak, len(g.window) == g.size); n != cur {
		g.set(n, used)
		// A new P count starts a new window: loads measured with the old
		// count say little about the new one.
		g.window = g.window[:0]
	}
}

func (g *Governor) set(n int, used float64) {
	if n == g.Procs() {
		return
	}
	prev := g.cfg.Set(n)
	g.procs.Store(int64(n))
	g.changes.Add(1)
	g.cfg.Logger.Debug("gomaxprocs", "from", prev, "to", n, "cores_used", math.Round(used*100)/100)
}
