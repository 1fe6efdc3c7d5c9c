package procfs

import (
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestSampleFromFixture(t *testing.T) {
	root := t.TempDir()
	write := func(name, body string) {
		t.Helper()
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("stat", "cpu  100 0 100 700 100 0 0 0 0 0\ncpu0 1 2 3\n")
	write("meminfo", "MemTotal:       2048 kB\nMemFree: 1 kB\n")
	write("self/status", "Name:\tcolony\nVmRSS:\t   512 kB\n")
	s := New(root)
	// 1000 jiffies seen; then 200 more of which 50 idle: 75% busy.
	write("stat", "cpu  200 0 150 750 100 0 0 0 0 0\n")
	cpu, rss, total := s.Sample()
	if cpu != 75 || rss != 512*1024 || total != 2048*1024 {
		t.Fatalf("Sample = %v %v %v", cpu, rss, total)
	}
}

func TestSampleReal(t *testing.T) {
	s := New("")
	_, rss, total := s.Sample()
	if rss == 0 || total == 0 || rss > total {
		t.Fatalf("rss %d total %d", rss, total)
	}
}
