package webrtc

import (
	"math"
	"runtime"
	"time"
)

// cpuSampleEvery is how often the server measures its process's CPU use
// for Config.CPULimit.
const cpuSampleEvery = time.Second

// cpuLoad measures the process's CPU use as a fraction of the machine's
// cores between successive calls of sample.
type cpuLoad struct {
	cores    float64
	cpu      func() time.Duration // the process's CPU time so far
	lastCPU  time.Duration
	lastWall time.Time
}

func newCPULoad(cpu func() time.Duration, now time.Time) *cpuLoad {
	return &cpuLoad{cores: float64(runtime.NumCPU()), cpu: cpu, lastCPU: cpu(), lastWall: now}
}

// sample returns the fraction of the cores used since the previous sample.
func (c *cpuLoad) sample(now time.Time) float64 {
	used := c.cpu()
	wall := now.Sub(c.lastWall)
	d := used - c.lastCPU
	c.lastCPU, c.lastWall = used, now
	if wall <= 0 {
		return 0
	}
	return d.Seconds() / wall.Seconds() / c.cores
}

// cpuSampler returns what samples the process's (or, with
// Config.MachineLoad, the machine's) CPU use and keeps the last figure
// for admission (overloaded); the server calls it every cpuSampleEvery.
func (s *Server) cpuSampler() func(now time.Time) {
	sample := newCPULoad(processCPU, time.Now()).sample
	if m := s.cfg.MachineLoad; m != nil {
		sample = func(time.Time) float64 {
			pct, _, _ := m.Sample()
			return pct / 100
		}
	}
	return func(now time.Time) { s.cpu.Store(math.Float64bits(sample(now))) }
}

// overloaded reports whether the process's last measured CPU use is past
// Config.CPULimit.
func (s *Server) overloaded() (float64, bool) {
	if s.cfg.CPULimit < 0 {
		return 0, false
	}
	f := math.Float64frombits(s.cpu.Load())
	return f, f > s.cfg.CPULimit
}
