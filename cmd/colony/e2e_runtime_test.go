//go:build e2e

package main

import (
	"fmt"
	"testing"
	"time"
)

// TestAdaptiveProcs: an idle node lowers GOMAXPROCS to one processor (the
// governor's default), and one configured with runtime.adaptive_procs:
// false keeps the runtime's own choice; /metrics shows both.
func TestAdaptiveProcs(t *testing.T) {
	fixed := startNode(t, "fixed", nodeOpts{config: "runtime:\n  adaptive_procs: false\n"})
	own := metric(t, fixed, "colony_gomaxprocs")
	if own < 2 {
		t.Skipf("the runtime chose %v processor(s) here: nothing to lower", own)
	}
	adaptive := startNode(t, "adaptive", nodeOpts{})
	eventually(t, 30*time.Second, "an idle node down to one processor", func() error {
		if got := metric(t, adaptive, "colony_gomaxprocs"); got != 1 {
			return fmt.Errorf("colony_gomaxprocs = %v", got)
		}
		return nil
	})
	if got := metric(t, adaptive, "colony_gomaxprocs_changes_total"); got < 1 {
		t.Fatalf("colony_gomaxprocs_changes_total = %v after a change", got)
	}
	time.Sleep(time.Second)
	if got := metric(t, fixed, "colony_gomaxprocs"); got != own {
		t.Fatalf("with adaptive_procs false: colony_gomaxprocs went from %v to %v", own, got)
	}
}
