package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc/PID/stat times: 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// errNoProcess reports a process that /proc does not show.
var errNoProcess = errors.New("no such process")

// procTree reads the CPU time and memory of a process and, optionally, of
// its descendants (nginx's workers, a server's plugins) from /proc.
type procTree struct {
	root     string // normally /proc
	pid      int
	children bool
}

// procSnapshot is one reading of a process tree.
type procSnapshot struct {
	at    time.Time
	ticks uint64 // utime+stime summed over the tree, in clock ticks
	main  uint64 // utime+stime of the main process alone
	rss   uint64 // VmRSS summed over the tree, bytes
	hwm   uint64 // VmHWM of the main process, bytes
	nice  int    // the main process's nice value
}

func (p procTree) snapshot() (procSnapshot, error) {
	snap := procSnapshot{at: time.Now()}
	pids := []int{p.pid}
	if p.children {
		pids = append(pids, p.descendants()...)
	}
	for i, pid := range pids {
		dir := filepath.Join(p.root, strconv.Itoa(pid))
		st, err := readStat(filepath.Join(dir, "stat"))
		if err != nil {
			if i == 0 {
				return snap, err
			}
			continue // a child that just ended
		}
		// A process's own time and its reaped children's: a child that
		// ends during the window moves its time into its parent's
		// reaped share, so the tree's sum never goes back.
		snap.ticks += st.own + st.reaped
		rss, hwm := readStatusMem(filepath.Join(dir, "status"))
		snap.rss += rss
		if i == 0 {
			snap.hwm, snap.main, snap.nice = hwm, st.own, st.nice
		}
	}
	return snap, nil
}

// descendants lists the processes below p.pid.
func (p procTree) descendants() []int {
	ents, err := os.ReadDir(p.root)
	if err != nil {
		return nil
	}
	kids := map[int][]int{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := readStat(filepath.Join(p.root, e.Name(), "stat"))
		if err == nil {
			kids[st.ppid] = append(kids[st.ppid], pid)
		}
	}
	var out []int
	queue := []int{p.pid}
	for len(queue) > 0 {
		next := queue[0]
		queue = queue[1:]
		for _, k := range kids[next] {
			out = append(out, k)
			queue = append(queue, k)
		}
	}
	return out
}

// procStat is what the harness reads of a /proc/PID/stat file.
type procStat struct {
	ppid   int
	own    uint64 // utime+stime, clock ticks
	reaped uint64 // cutime+cstime: children that ended and were waited for
	nice   int    // -20 (most favoured) to 19; 0 where the line stops short of it
}

// readStat reads a /proc/PID/stat file.
func readStat(path string) (procStat, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return procStat{}, fmt.Errorf("%s: %w", path, errNoProcess)
		}
		return procStat{}, err
	}
	return parseStat(b)
}

// parseStat parses the text of /proc/PID/stat. The command name may hold
// spaces and parentheses, so fields are counted after the last ')'.
func parseStat(b []byte) (procStat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("stat: no command name in %q", b)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state): ppid is field 4, utime 14, stime 15,
	// cutime 16, cstime 17, nice 19.
	if len(f) < 15 {
		return procStat{}, fmt.Errorf("stat: %d fields after the name, want 15 or more", len(f))
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return procStat{}, fmt.Errorf("stat ppid: %w", err)
	}
	var t [4]uint64
	for k := range t {
		v, err := strconv.ParseInt(f[11+k], 10, 64) // cutime and cstime are signed
		if err != nil {
			return procStat{}, fmt.Errorf("stat times: %w", err)
		}
		t[k] = uint64(max(v, 0))
	}
	st := procStat{ppid: ppid, own: t[0] + t[1], reaped: t[2] + t[3]}
	if len(f) > 16 {
		if st.nice, err = strconv.Atoi(f[16]); err != nil {
			return procStat{}, fmt.Errorf("stat nice: %w", err)
		}
	}
	return st, nil
}

// readStatusMem returns VmRSS and VmHWM of a /proc/PID/status file, bytes.
func readStatusMem(path string) (rss, hwm uint64) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			rss = parseKB(v)
		} else if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			hwm = parseKB(v)
		}
	}
	return rss, hwm
}

func parseKB(v string) uint64 {
	f := strings.Fields(v)
	if len(f) == 0 {
		return 0
	}
	n, _ := strconv.ParseUint(f[0], 10, 64)
	return n * 1024
}

// procUsage is a process tree's use of the machine over a window.
type procUsage struct {
	Cores      float64 `json:"cores"`       // CPU seconds per wall second
	MainCores  float64 `json:"cores_main"`  // the same for the main process alone (without plugins, workers)
	CPUSeconds float64 `json:"cpu_seconds"` // over the window
	PeakRSS    uint64  `json:"peak_rss"`    // highest sampled tree RSS, bytes
	HWM        uint64  `json:"vm_hwm"`      // VmHWM of the main process at the end, bytes
	// Nice is the main process's nice value at the end: matrix.sh's
	// BENCH_NICE runs the generator below the server's priority.
	Nice int `json:"nice,omitempty"`
}

// procMonitor samples a process tree's RSS periodically between start and
// stop, and its CPU time at both ends.
type procMonitor struct {
	tree     procTree
	interval time.Duration

	mu    sync.Mutex
	first procSnapshot
	last  procSnapshot
	peak  uint64
	err   error
}

// Run samples until ctx ends; Usage then gives the figures.
func (m *procMonitor) Run(ctx context.Context) {
	t := time.NewTicker(m.interval)
	defer t.Stop()
	m.take(true)
	for {
		select {
		case <-ctx.Done():
			m.take(false)
			return
		case <-t.C:
			m.take(false)
		}
	}
}

func (m *procMonitor) take(first bool) {
	s, err := m.tree.snapshot()
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		if m.err == nil {
			m.err = err
		}
		return
	}
	if first {
		m.first = s
	}
	m.last = s
	m.peak = max(m.peak, s.rss)
}

// Usage returns the figures between the first and last samples.
func (m *procMonitor) Usage() (procUsage, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.first.at.IsZero() || m.err != nil {
		return procUsage{}, m.err
	}
	wall := m.last.at.Sub(m.first.at).Seconds()
	// Guarded all the same: a child reaped by nobody we see (re-parented
	// to init) takes its time out of the tree.
	cpu := float64(m.last.ticks-min(m.first.ticks, m.last.ticks)) / clockTicks
	u := procUsage{CPUSeconds: cpu, PeakRSS: m.peak, HWM: m.last.hwm, Nice: m.last.nice}
	if wall > 0 {
		u.Cores = float64(int64(cpu/wall*1000+0.5)) / 1000
		mainCPU := float64(m.last.main-min(m.first.main, m.last.main)) / clockTicks
		u.MainCores = float64(int64(mainCPU/wall*1000+0.5)) / 1000
	}
	return u, nil
}
