package ffmpeg

import (
	"context"
	"runtime"
	"testing"
	"time"
)

// TestNewGovernor: the plugin sizes its processors to its load unless
// GOMAXPROCS is set, and an idle plugin process comes down to one.
func TestNewGovernor(t *testing.T) {
	set := func(v string) func(string) string {
		return func(k string) string {
			if k == "GOMAXPROCS" {
				return v
			}
			return ""
		}
	}
	if g := newGovernor(set("2")); g != nil {
		t.Error("a governor although GOMAXPROCS is set")
	}
	g := newGovernor(set(""))
	if g == nil {
		t.Fatal("no governor without GOMAXPROCS")
	}
	if runtime.NumCPU() < 2 {
		t.Skip("one CPU: nothing to come down from")
	}
	prev := runtime.GOMAXPROCS(0)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = g.Run(ctx) }()
	defer func() {
		cancel()
		<-done
		runtime.GOMAXPROCS(prev)
	}()
	deadline := time.Now().Add(20 * time.Second)
	for g.Procs() != 1 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if g.Procs() != 1 || runtime.GOMAXPROCS(0) != 1 {
		t.Errorf("idle test process at %d processors (governor says %d), want 1", runtime.GOMAXPROCS(0), g.Procs())
	}
}
