package webrtc

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
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

// watchCPU samples the process's (or, with Config.CPUOfMachine, the
// machine's) CPU use until the server closes, and
// keeps the last figure for admission (overloaded).
func (s *Server) watchCPU() {
	defer s.wg.Done()
	cpu := processCPU
	if s.cfg.CPUOfMachine {
		cpu = machineCPU
	}
	load := newCPULoad(cpu, time.Now())
	t := time.NewTicker(cpuSampleEvery)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case now := <-t.C:
			s.cpu.Store(math.Float64bits(load.sample(now)))
		}
	}
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

// machineCPU is the busy CPU time of the whole machine so far, summed over
// its cores, from /proc/stat; 0 where there is none (never overloaded).
func machineCPU() time.Duration {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0
	}
	defer f.Close()
	line, err := bufio.NewReader(f).ReadString('\n')
	if err != nil {
		return 0
	}
	busy, err := parseProcStatCPU(line)
	if err != nil {
		return 0
	}
	return busy
}

// userHZ is the unit of /proc/stat's times (USER_HZ, 100 on Linux).
const userHZ = 100

// parseProcStatCPU reads the aggregate "cpu" line of /proc/stat: the busy
// time is everything but idle and iowait (guest time is already counted in
// user and nice).
func parseProcStatCPU(line string) (time.Duration, error) {
	fields := strings.Fields(line)
	if len(fields) < 8 || fields[0] != "cpu" {
		return 0, fmt.Errorf("not the aggregate cpu line of /proc/stat: %q", line)
	}
	var busy uint64
	for i, f := range fields[1:] {
		if i >= 8 { // guest, guest_nice: part of user and nice
			break
		}
		v, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/stat field %d: %w", i+1, err)
		}
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		busy += v
	}
	return time.Duration(busy) * time.Second / userHZ, nil
}
