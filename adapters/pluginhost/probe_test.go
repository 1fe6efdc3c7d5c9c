package pluginhost

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestListFindsPlugins(t *testing.T) {
	h, _ := newHost(t, "real", Config{})
	if got, want := h.List(), []string{"ffmpeg", "nvenc", "qsv"}; !slices.Equal(got, want) {
		t.Fatalf("List = %v, want %v", got, want)
	}
}

func TestProbeGPUPluginsFailHereAndAutoSelectsFFmpeg(t *testing.T) {
	if m, _ := filepath.Glob("/dev/nvidia[0-9]*"); len(m) > 0 {
		t.Log("this machine has an NVIDIA device: nvenc may pass")
	}
	h, logs := newHost(t, "real", Config{})
	ctx := context.Background()
	for _, tt := range []struct{ name, detail string }{{"nvenc", "libcuda"}, {"qsv", "Device creation failed"}} {
		pr, err := h.Probe(ctx, tt.name)
		if err != nil {
			t.Fatal(err)
		}
		if pr.Name != tt.name || !pr.Hardware || pr.APIVersion != 1 {
			t.Fatalf("%s probe = %+v", tt.name, pr)
		}
		if pr.OK {
			t.Logf("%s passed its probe on this machine", tt.name)
			continue
		}
		if !strings.Contains(pr.Reason, tt.detail) {
			t.Fatalf("%s reason %q lacks %q", tt.name, pr.Reason, tt.detail)
		}
	}
	ff, err := h.Probe(ctx, "ffmpeg")
	if err != nil || !ff.OK || ff.Hardware || ff.Encoder != "libx264" {
		t.Fatalf("ffmpeg probe = %+v, %v", ff, err)
	}
	if h.Current() != "" {
		t.Fatalf("Current = %q before any selection", h.Current())
	}
	got, err := h.Select(ctx, Auto)
	if err != nil {
		t.Fatal(err)
	}
	gpu, _ := filepath.Glob("/dev/nvidia[0-9]*")
	if len(gpu) == 0 && got != "ffmpeg" {
		t.Fatalf("auto selected %q, want ffmpeg", got)
	}
	if h.Current() != got {
		t.Fatalf("Current = %q after selecting %q", h.Current(), got)
	}
	if got == "ffmpeg" && !(logs.Contains("no GPU plugin passed its probe") && logs.Contains("libcuda")) {
		t.Fatalf("the selection was not logged with its reasons:\n%s", logs.String())
	}
	if _, err := h.Select(ctx, "qsv"); len(gpu) == 0 && !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Select(qsv) = %v, want ErrUnavailable", err)
	}
	if _, err := h.Select(ctx, "nope"); !errors.Is(err, ErrUnknownPlugin) {
		t.Fatalf("Select(nope) = %v, want ErrUnknownPlugin", err)
	}
}

// TestPrepare selects in the background: Current is set without a
// session, for Auto and for a plugin named, and a selection that cannot
// succeed is logged and left to the first session (Current stays empty).
func TestPrepare(t *testing.T) {
	nvidia, _ := filepath.Glob("/dev/nvidia[0-9]*")
	dri, _ := filepath.Glob("/dev/dri/renderD*")
	for _, tc := range []struct {
		plugin, want string
		gpuMayPass   bool // a GPU here may make the outcome another
	}{
		{Auto, "ffmpeg", len(nvidia)+len(dri) > 0},
		{"ffmpeg", "ffmpeg", false},
		{"qsv", "", len(dri) > 0},
	} {
		t.Run(tc.plugin, func(t *testing.T) {
			log, logs := testLogger(t)
			h, err := New(Config{Dir: pluginDir(t, "real"), Plugin: tc.plugin, Logger: log})
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			if h.Current() != "" {
				t.Fatalf("Current = %q before Prepare", h.Current())
			}
			h.Prepare()
			const failed = "no transcoder plugin selected at start-up"
			deadline := time.Now().Add(30 * time.Second)
			for h.Current() == "" && !logs.Contains(failed) {
				if time.Now().After(deadline) {
					t.Fatalf("no plugin selected, and no failure logged, 30 s after Prepare:\n%s", logs.String())
				}
				time.Sleep(20 * time.Millisecond)
			}
			if got := h.Current(); got != tc.want {
				if tc.gpuMayPass {
					t.Skipf("Current = %q with a GPU device here (want %q without one)", got, tc.want)
				}
				t.Fatalf("Current = %q after Prepare, want %q\n%s", got, tc.want, logs.String())
			}
			if tc.want == "" && !logs.Contains(failed) {
				t.Fatalf("the failed selection was not logged:\n%s", logs.String())
			}
		})
	}
}

// TestPrepareThenClose: Close during the start-up selection stops it and
// waits for it (goleak checks the package's goroutines).
func TestPrepareThenClose(t *testing.T) {
	h, _ := newHost(t, "real", Config{Plugin: Auto})
	h.Prepare()
	time.Sleep(50 * time.Millisecond)
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	h.Prepare() // after Close: nothing starts
}

func TestChecksumPin(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(pluginDir(t, "fake"), "colony-transcoder-echo"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	good := hex.EncodeToString(sum[:])
	bad := strings.Repeat("ab", 32)
	tests := []struct {
		name    string
		cfg     Config
		wantErr error
	}{
		{"matching pin", Config{Checksums: map[string]string{"echo": good}}, nil},
		{"mismatched pin", Config{Checksums: map[string]string{"echo": bad}}, ErrChecksum},
		{"pins required, none given", Config{RequireChecksums: true}, ErrChecksum},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, logs := newHost(t, "fake", tt.cfg)
			pr, err := h.Probe(context.Background(), "echo")
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Probe error = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == nil {
				if !pr.OK {
					t.Fatalf("probe = %+v", pr)
				}
				return
			}
			if tt.cfg.Checksums != nil && !(strings.Contains(err.Error(), good) && strings.Contains(err.Error(), bad)) {
				t.Fatalf("error %q does not show the file's and the pinned SHA-256", err)
			}
			if logs.Contains("plugin started") || logs.Contains("starting plugin") {
				t.Fatalf("a refused plugin was started:\n%s", logs.String())
			}
		})
	}
}

func TestConfigRejectsBadPins(t *testing.T) {
	_, err := New(Config{Dir: t.TempDir(), Checksums: map[string]string{"ffmpeg": "xyz"}})
	if err == nil {
		t.Fatal("a non-hex pin was accepted")
	}
	if _, err := New(Config{}); err == nil {
		t.Fatal("a config without Dir was accepted")
	}
	if _, err := New(Config{Dir: t.TempDir(), Plugin: "nope"}); !errors.Is(err, ErrUnknownPlugin) {
		t.Fatalf("unknown configured plugin: %v, want ErrUnknownPlugin", err)
	}
}

func TestConfigOpusFrame(t *testing.T) {
	tests := []struct {
		in, want time.Duration
		ok       bool
	}{
		{0, 20 * time.Millisecond, true},
		{10 * time.Millisecond, 10 * time.Millisecond, true},
		{40 * time.Millisecond, 40 * time.Millisecond, true},
		{60 * time.Millisecond, 60 * time.Millisecond, true},
		{30 * time.Millisecond, 0, false},
		{120 * time.Millisecond, 0, false},
		{-time.Millisecond, 0, false},
	}
	for _, tt := range tests {
		c, err := Config{Dir: "x", OpusFrame: tt.in}.withDefaults()
		if (err == nil) != tt.ok || (tt.ok && c.OpusFrame != tt.want) {
			t.Errorf("OpusFrame %v: got %v, %v; want %v (accepted: %v)", tt.in, c.OpusFrame, err, tt.want, tt.ok)
		}
	}
}
