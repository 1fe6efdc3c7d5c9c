package rest

import (
	"encoding/json"
	"testing"
)

type fakeLoad struct{}

func (fakeLoad) Sample() (float64, uint64, uint64) { return 42.5, 100 << 20, 16 << 30 }

func TestSystemStatus(t *testing.T) {
	for _, tt := range []struct {
		name          string
		load          bool
		cpu           float64
		rss, totalMem uint64
	}{
		{"sampler", true, 42.5, 100 << 20, 16 << 30},
		{"last heartbeat", false, 12.5, 64 << 20, 8 << 30},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(c *Config) {
				if tt.load {
					c.Load = fakeLoad{}
				}
			})
			code, body := e.do(t, "GET", "/rest/v2/system-status", "")
			var st SystemStatus
			if err := json.Unmarshal([]byte(body), &st); code != 200 || err != nil {
				t.Fatalf("system-status = %d %s (%v)", code, body, err)
			}
			if st.Node != "n1" || st.CPUUsage.SystemCPULoad != tt.cpu || st.SystemMemoryInfo.ProcessMemory != tt.rss || st.SystemMemoryInfo.TotalMemory != tt.totalMem {
				t.Fatalf("system-status = %+v", st)
			}
			fs := st.FileSystemInfo
			if fs.TotalSpace == 0 || fs.FreeSpace > fs.TotalSpace || fs.UsableSpace > fs.FreeSpace || fs.InUseSpace != fs.TotalSpace-fs.FreeSpace || st.ProcessorCount < 1 {
				t.Fatalf("file system info = %+v", st)
			}
		})
	}
}
