package main

import (
	"context"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	tests := []struct {
		name      string
		line      string
		wantPPID  int
		wantTicks uint64
		wantReap  uint64
		wantNice  int
		wantErr   bool
	}{
		{"plain", "123 (nginx) S 1 123 123 0 -1 4194624 100 0 0 0 250 70 0 0 20 0 1 0 100 1000 200", 1, 320, 0, 0, false},
		{"reaped children", "123 (colony) S 1 123 123 0 -1 4194624 100 0 0 0 250 70 30 12 20 0 1 0 100 1000 200", 1, 320, 42, 0, false},
		{"niced", "9 (colony-bench) S 8 9 9 0 -1 4194560 100 0 0 0 40 2 0 0 30 10 9 0 100 1000 200", 8, 42, 0, 10, false},
		{"favoured", "9 (colony) S 8 9 9 0 -1 4194560 100 0 0 0 40 2 0 0 15 -5 9 0 100 1000 200", 8, 42, 0, -5, false},
		{"name with spaces and parens", "7 (a) b (c)) R 6 7 7 0 -1 0 0 0 0 0 5 6 0 0 20 0 1 0", 6, 11, 0, 0, false},
		{"stops before nice", "7 (x) R 6 7 7 0 -1 0 0 0 0 0 5 6 0 0", 6, 11, 0, 0, false},
		{"bad nice", "7 (x) R 6 7 7 0 -1 0 0 0 0 0 5 6 0 0 20 x 1 0", 0, 0, 0, 0, true},
		{"short", "7 (x) R 6 7", 0, 0, 0, 0, true},
		{"no name", "7 x R 6", 0, 0, 0, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, err := parseStat([]byte(tc.line))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if st.ppid != tc.wantPPID || st.own != tc.wantTicks || st.reaped != tc.wantReap || st.nice != tc.wantNice {
				t.Fatalf("got %+v, want ppid %d, own %d, reaped %d, nice %d", st, tc.wantPPID, tc.wantTicks, tc.wantReap, tc.wantNice)
			}
		})
	}
}

// The sampler sees the CPU this test process burns, its memory, and its
// children.
func TestProcMonitorSelf(t *testing.T) {
	child := exec.Command("sleep", "10")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })
	tree := procTree{root: "/proc", pid: os.Getpid(), children: true}
	if kids := tree.descendants(); !slices.Contains(kids, child.Process.Pid) {
		t.Fatalf("descendants %v lack the child %d", kids, child.Process.Pid)
	}

	m := &procMonitor{tree: tree, interval: 50 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { m.Run(ctx) })
	end := time.Now().Add(400 * time.Millisecond)
	x := 0
	for time.Now().Before(end) {
		x++
	}
	cancel()
	wg.Wait()
	u, err := m.Usage()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("spun %d times: %+v", x, u)
	if u.CPUSeconds < 0.04 || u.Cores <= 0 {
		t.Fatalf("CPU %.2f s (%.2f cores) after spinning 0.4 s", u.CPUSeconds, u.Cores)
	}
	if u.MainCores <= 0 || u.MainCores > u.Cores {
		t.Fatalf("main process %.3f cores of the tree's %.3f: the main process spun", u.MainCores, u.Cores)
	}
	if u.PeakRSS < 1<<20 || u.HWM < 1<<20 {
		t.Fatalf("peak RSS %d, HWM %d: implausible", u.PeakRSS, u.HWM)
	}

	gone := &procMonitor{tree: procTree{root: "/proc", pid: 1 << 30}, interval: time.Second}
	gone.take(true)
	if _, err := gone.Usage(); err == nil {
		t.Fatal("no error for a process that does not exist")
	}
}

// A process started below the default priority (as matrix.sh's BENCH_NICE
// starts the generator) says so in its usage, and the table marks its rows.
func TestProcMonitorNice(t *testing.T) {
	prio, err := syscall.Getpriority(syscall.PRIO_PROCESS, 0) // the raw call: 20 - nice
	if err != nil {
		t.Fatal(err)
	}
	ownNice := 20 - prio
	own := &procMonitor{tree: procTree{root: "/proc", pid: os.Getpid()}, interval: time.Second}
	own.take(true)
	if u, err := own.Usage(); err != nil || u.Nice != ownNice {
		t.Fatalf("this test process: nice %d (%v), want %d", u.Nice, err, ownNice)
	}
	want := min(ownNice+7, 19)                              // nice -n adds to the caller's
	child := exec.Command("nice", "-n", "7", "sleep", "10") // nice execs sleep: same pid
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })
	m := &procMonitor{tree: procTree{root: "/proc", pid: child.Process.Pid}, interval: time.Second}
	var u procUsage
	deadline := time.Now().Add(5 * time.Second)
	for u.Nice != want && time.Now().Before(deadline) { // until nice has run sleep
		time.Sleep(10 * time.Millisecond)
		m.take(true)
		if u, err = m.Usage(); err != nil {
			t.Fatal(err)
		}
	}
	if u.Nice != want {
		t.Fatalf("nice %d, want %d", u.Nice, want)
	}
	var out strings.Builder
	r := result{Label: "colony", Mode: modeWHEP, Viewers: 1, Generator: procUsage{Nice: 10}}
	if err := writeTable(&out, []result{r, {Label: "colony", Mode: modeHLS, Viewers: 1}}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "whep+nice10") || strings.Contains(out.String(), "hls+nice") {
		t.Errorf("the table does not mark the niced generator's row alone:\n%s", out.String())
	}
}

// A busy child counts in the tree's cores and not in the main process's.
func TestProcMonitorBusyChild(t *testing.T) {
	child := exec.Command("sh", "-c", "while :; do :; done")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })
	m := &procMonitor{tree: procTree{root: "/proc", pid: os.Getpid(), children: true}, interval: 50 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { m.Run(ctx) })
	time.Sleep(500 * time.Millisecond)
	cancel()
	wg.Wait()
	u, err := m.Usage()
	if err != nil {
		t.Fatal(err)
	}
	if u.Cores-u.MainCores < 0.1 || u.MainCores > u.Cores/2 {
		t.Fatalf("tree %.3f cores, main %.3f: the busy child is not the difference", u.Cores, u.MainCores)
	}
}

// A child that ends inside the window leaves its time in the tree (in its
// parent's reaped share) instead of taking it away.
func TestProcMonitorChildEnds(t *testing.T) {
	m := &procMonitor{tree: procTree{root: "/proc", pid: os.Getpid(), children: true}, interval: 100 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { m.Run(ctx) })
	time.Sleep(50 * time.Millisecond) // the first sample is taken without the child
	child := exec.Command("timeout", "0.6", "sh", "-c", "while :; do :; done")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait() // it spins, ends (timeout) and is reaped, all inside the window
	time.Sleep(150 * time.Millisecond)
	cancel()
	wg.Wait()
	u, err := m.Usage()
	if err != nil {
		t.Fatal(err)
	}
	// wait4's usage of the child includes the shell it reaped.
	ru := child.ProcessState.SysUsage().(*syscall.Rusage)
	childCPU := time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	if childCPU < 0.05 {
		t.Fatalf("the child used %.3f s of CPU: it did not spin", childCPU)
	}
	if u.CPUSeconds < 0.8*childCPU || u.Cores > 4 {
		t.Fatalf("tree %.3f CPU seconds (%.3f cores) for a child that used %.3f: its time is lost", u.CPUSeconds, u.Cores, childCPU)
	}
}
