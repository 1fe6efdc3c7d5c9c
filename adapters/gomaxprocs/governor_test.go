package gomaxprocs

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestPolicyNext(t *testing.T) {
	p := DefaultPolicy(8)
	tests := []struct {
		name       string
		cur        int
		used, peak float64
		full       bool
		want       int
	}{
		{"idle one P stays", 1, 0.1, 0.1, true, 1},
		{"one P busy grows", 1, 0.85, 0.85, false, 2},
		{"one P at 0.75 stays", 1, 0.75, 0.75, true, 1},
		{"one P saturated doubles", 1, 0.95, 0.95, false, 2},
		{"two Ps saturated double", 2, 1.9, 1.9, false, 4},
		{"grows to what the load needs", 3, 2.6, 2.6, false, 4},
		{"capped at Max", 6, 5.9, 5.9, false, 8},
		{"two Ps well used stay", 2, 0.8, 0.8, true, 2},
		{"two Ps used under 0.75 shrink once the window is full", 2, 0.6, 0.7, true, 1},
		{"not before the window is full", 2, 0.3, 0.4, false, 2},
		{"a peak in the window holds them", 2, 0.3, 0.9, true, 2},
		{"shrinks to what the peak needs", 8, 1.0, 1.4, true, 2},
		{"never below Min", 2, 0, 0, true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := p.Next(tt.cur, tt.used, tt.peak, tt.full); got != tt.want {
				t.Fatalf("Next(%d, %v, %v, %v) = %d, want %d", tt.cur, tt.used, tt.peak, tt.full, got, tt.want)
			}
		})
	}
	one := Policy{Min: 1, Max: 1, Up: 0.7, Down: 0.45}
	if got := one.Next(1, 0.99, 0.99, false); got != 1 {
		t.Fatalf("one CPU: Next = %d, want 1", got)
	}
}

// fakeRuntime scripts the load the governor sees and records what it sets.
type fakeRuntime struct {
	mu    sync.Mutex
	procs int
	sets  []int
	cpu   time.Duration
	now   time.Time
	load  float64 // cores used per tick
	tick  time.Duration
}

func (f *fakeRuntime) config(interval time.Duration) Config {
	return Config{
		Policy:   Policy{Min: 1, Max: 2, Up: 0.7, Down: 0.45, DownAfter: 4 * interval},
		Interval: interval,
		CPUTime: func() (time.Duration, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			// Each reading is one tick later, at the scripted load.
			f.now = f.now.Add(f.tick)
			f.cpu += time.Duration(f.load * float64(f.tick))
			return f.cpu, nil
		},
		Now: func() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.now },
		Set: func(n int) int {
			f.mu.Lock()
			defer f.mu.Unlock()
			prev := f.procs
			if n > 0 {
				f.procs = n
				f.sets = append(f.sets, n)
			}
			return prev
		},
	}
}

func (f *fakeRuntime) setLoad(l float64) { f.mu.Lock(); f.load = l; f.mu.Unlock() }
func (f *fakeRuntime) current() int      { f.mu.Lock(); defer f.mu.Unlock(); return f.procs }

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestGovernorFollowsLoad(t *testing.T) {
	f := &fakeRuntime{procs: 2, now: time.Unix(0, 0), tick: 100 * time.Millisecond}
	g := New(f.config(time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()

	f.setLoad(0.2)
	waitFor(t, "one P at a light load", func() bool { return f.current() == 1 && g.Procs() == 1 })
	f.setLoad(0.8)
	waitFor(t, "two Ps at a heavy load", func() bool { return f.current() == 2 && g.Procs() == 2 })
	f.setLoad(0.6) // over Down for two Ps: stays at two
	time.Sleep(50 * time.Millisecond)
	if got := f.current(); got != 2 {
		t.Fatalf("at 0.6 cores with two Ps: %d Ps, want 2", got)
	}
	f.setLoad(0.1)
	waitFor(t, "one P again", func() bool { return f.current() == 1 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := f.current(); got != 2 {
		t.Fatalf("after Run: %d Ps, want the runtime's 2 restored", got)
	}
	if g.Changes() < 4 {
		t.Fatalf("Changes = %d, want at least 4", g.Changes())
	}
}

func TestGovernorWithoutCPUTime(t *testing.T) {
	f := &fakeRuntime{procs: 2}
	cfg := f.config(time.Millisecond)
	cfg.CPUTime = func() (time.Duration, error) { return 0, errors.New("no rusage") }
	g := New(cfg)
	if err := g.Run(context.Background()); err != nil { // returns at once
		t.Fatal(err)
	}
	if f.current() != 2 || len(f.sets) != 0 {
		t.Fatalf("procs %d, sets %v: want the runtime's choice untouched", f.current(), f.sets)
	}
}

// TestGovernorRealRuntime drives the real scheduler: an idle test process
// goes to one P, and CPU-bound goroutines bring the Ps back.
func TestGovernorRealRuntime(t *testing.T) {
	start := runtime.GOMAXPROCS(0)
	if start < 2 {
		t.Skip("needs at least 2 CPUs to see the governor change anything")
	}
	g := New(Config{
		// Low thresholds: other test binaries may share the machine, so
		// one busy processor here may get well under a whole core.
		Policy:   Policy{Min: 1, Max: start, Up: 0.3, Down: 0.2, DownAfter: 200 * time.Millisecond},
		Interval: 50 * time.Millisecond,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	waitFor(t, "one P while idle", func() bool { return runtime.GOMAXPROCS(0) == 1 })

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range start {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				for i := 0; i < 1e5; i++ {
					_ = i * i
				}
			}
		}()
	}
	waitFor(t, "more Ps under load", func() bool { return runtime.GOMAXPROCS(0) > 1 })
	close(stop)
	wg.Wait()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := runtime.GOMAXPROCS(0); got != start {
		t.Fatalf("after Run: GOMAXPROCS %d, want %d restored", got, start)
	}
}
