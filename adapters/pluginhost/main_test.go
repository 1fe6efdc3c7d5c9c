package pluginhost

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/colony-live/colony/internal/syncbuf"
	"go.uber.org/goleak"
)

// The plugin binaries are built once per test run, into a temporary
// directory that TestMain removes.
var (
	buildOnce sync.Once
	buildRoot string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildRoot != "" {
		_ = os.RemoveAll(buildRoot)
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// Plugin directories: "real" holds colony-transcoder-{ffmpeg,nvenc,qsv},
// "fake" the test plugins (testdata/fakeplugin) in each mode.
func pluginDir(t *testing.T, which string) string {
	t.Helper()
	buildOnce.Do(func() {
		buildRoot, buildErr = os.MkdirTemp("", "colony-plugins-")
		if buildErr != nil {
			return
		}
		real, fake := filepath.Join(buildRoot, "real"), filepath.Join(buildRoot, "fake")
		var wg sync.WaitGroup
		var mu sync.Mutex
		build := func(args ...string) {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			// Without -race even when the test has it: race-instrumented
			// plugins are too slow for real-time tests on two cores (the
			// plugin code runs under the race detector in its own
			// package's tests).
			out, err := exec.CommandContext(ctx, "go", append([]string{"build"}, args...)...).CombinedOutput()
			if err != nil {
				mu.Lock()
				buildErr = fmt.Errorf("go build %v: %v\n%s", args, err, out)
				mu.Unlock()
			}
		}
		wg.Add(1)
		go build("-o", real+"/", "github.com/colony-live/colony/cmd/colony-transcoder-ffmpeg",
			"github.com/colony-live/colony/cmd/colony-transcoder-nvenc", "github.com/colony-live/colony/cmd/colony-transcoder-qsv")
		wg.Add(1)
		go build("-o", filepath.Join(fake, "colony-transcoder-echo"), "./testdata/fakeplugin")
		wg.Wait()
		// The fake takes its behaviour from its name; echo2 is a second
		// echo, for swaps.
		for _, name := range []string{"echo2", "hang", "refuse"} {
			if buildErr == nil {
				buildErr = copyFile(filepath.Join(fake, "colony-transcoder-echo"), filepath.Join(fake, "colony-transcoder-"+name))
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(buildRoot, which)
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o755)
}

func testLogger(t *testing.T) (*slog.Logger, *syncbuf.Buffer) {
	t.Helper()
	lb := &syncbuf.Buffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", lb.String())
		}
	})
	return slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug})), lb
}

// newHost returns a host on plugin directory which, closed at cleanup.
func newHost(t *testing.T, which string, cfg Config) (*Host, *syncbuf.Buffer) {
	t.Helper()
	log, lb := testLogger(t)
	cfg.Dir = pluginDir(t, which)
	cfg.Logger = log
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	if cfg.Plugin != "" && cfg.Plugin != Auto {
		// Resolve it now, not inside the test's real-time window.
		if _, err := h.Select(context.Background(), cfg.Plugin); err != nil {
			t.Fatal(err)
		}
	}
	return h, lb
}
