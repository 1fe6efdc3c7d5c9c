// Package procfs samples the machine's CPU and the process's memory from
// Linux /proc, for node heartbeats.
package procfs

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
)

// Sampler implements ports.LoadSampler. The zero value is not usable: use New.
type Sampler struct {
	root string

	mu              sync.Mutex
	lastIdle, lastT uint64
}

// New returns a sampler reading root (normally "/proc").
func New(root string) *Sampler {
	if root == "" {
		root = "/proc"
	}
	s := &Sampler{root: root}
	s.lastIdle, s.lastT, _ = s.cpuTimes()
	return s
}

// Sample returns machine CPU use since the previous call (0..100), the
// process's resident memory and the machine's memory, in bytes. Values that
// cannot be read are zero.
func (s *Sampler) Sample() (cpuPercent float64, rss, total uint64) {
	idle, all, err := s.cpuTimes()
	if err == nil {
		s.mu.Lock()
		di, dt := idle-s.lastIdle, all-s.lastT
		s.lastIdle, s.lastT = idle, all
		s.mu.Unlock()
		if dt > 0 && di <= dt {
			cpuPercent = 100 * float64(dt-di) / float64(dt)
		}
	}
	rss = s.kbField("self/status", "VmRSS:") * 1024
	total = s.kbField("meminfo", "MemTotal:") * 1024
	return cpuPercent, rss, total
}

// cpuTimes reads the aggregate idle and total jiffies from /proc/stat.
func (s *Sampler) cpuTimes() (idle, total uint64, err error) {
	b, err := os.ReadFile(s.root + "/stat")
	if err != nil {
		return 0, 0, err
	}
	line, _, _ := bytes.Cut(b, []byte{'\n'})
	f := strings.Fields(string(line))
	if len(f) < 5 || f[0] != "cpu" {
		return 0, 0, fmt.Errorf("procfs: unexpected stat line %q", line)
	}
	for i, v := range f[1:] {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("procfs: stat field %q: %w", v, err)
		}
		total += n
		if i == 3 || i == 4 { // idle, iowait
			idle += n
		}
	}
	return idle, total, nil
}

// kbField returns the value in kB of a "Name:   123 kB" line of a /proc file.
func (s *Sampler) kbField(file, name string) uint64 {
	f, err := os.Open(s.root + "/" + file)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, name); ok {
			fs := strings.Fields(rest)
			if len(fs) > 0 {
				n, _ := strconv.ParseUint(fs[0], 10, 64)
				return n
			}
		}
	}
	return 0
}
