package ffmpeg

import "testing"

// TestNewGovernor: the plugin sizes its processors to its load unless
// GOMAXPROCS is set (the governor itself, and an idle process going down
// to one processor, are tested in adapters/gomaxprocs).
func TestNewGovernor(t *testing.T) {
	for _, c := range []struct {
		gomaxprocs string
		want       bool
	}{{"", true}, {"2", false}, {"1", false}} {
		getenv := func(k string) string {
			if k == "GOMAXPROCS" {
				return c.gomaxprocs
			}
			return ""
		}
		if got := newGovernor(getenv) != nil; got != c.want {
			t.Errorf("GOMAXPROCS=%q: governor %v, want %v", c.gomaxprocs, got, c.want)
		}
	}
}
