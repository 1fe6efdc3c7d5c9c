package webrtc

import (
	"testing"
	"time"
)

func TestParseProcStatCPU(t *testing.T) {
	tests := []struct {
		name    string
		line    string
		want    time.Duration
		wantErr bool
	}{
		// user nice system idle iowait irq softirq steal guest guest_nice
		{"ten fields", "cpu  100 20 30 1000 50 5 5 10 7 3\n", (100 + 20 + 30 + 5 + 5 + 10) * 10 * time.Millisecond, false},
		{"no guest fields", "cpu 1 2 3 4 5 6 7", (1 + 2 + 3 + 6 + 7) * 10 * time.Millisecond, false},
		{"a core's line", "cpu0 1 2 3 4 5 6 7 8", 0, true},
		{"too short", "cpu 1 2 3", 0, true},
		{"not a number", "cpu 1 x 3 4 5 6 7 8", 0, true},
		{"empty", "", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseProcStatCPU(tc.line)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("parseProcStatCPU(%q) = %v, %v; want %v (error %v)", tc.line, got, err, tc.want, tc.wantErr)
			}
		})
	}
}

// The machine's busy time grows while this process burns CPU.
func TestMachineCPUGrows(t *testing.T) {
	before := machineCPU()
	if before <= 0 {
		t.Fatalf("machineCPU() = %v on Linux", before)
	}
	deadline := time.Now().Add(100 * time.Millisecond)
	for x := 0; time.Now().Before(deadline); x++ {
		_ = x * x
	}
	if after := machineCPU(); after <= before {
		t.Fatalf("machine busy time went from %v to %v while spinning", before, after)
	}
}
