package ffmpeg

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

func TestErrorSummary(t *testing.T) {
	tests := []struct {
		name, stderr, want string
	}{
		{"nvenc without driver", "[h264_nvenc @ 0x560a48faf680] Cannot load libcuda.so.1\nError initializing output stream 0:0 -- Error while opening encoder for output stream #0:0 - maybe incorrect parameters\nConversion failed!\n",
			"Cannot load libcuda.so.1"},
		{"cuda device", "[AVHWDeviceContext @ 0x561b260e2940] Cannot load libcuda.so.1\n[AVHWDeviceContext @ 0x561b260e2940] Could not dynamically load CUDA\nDevice creation failed: -1.\nFailed to set value 'cuda=cu:0' for option 'init_hw_device': Operation not permitted\nError parsing global options: Operation not permitted\n",
			"Cannot load libcuda.so.1; Could not dynamically load CUDA; Device creation failed: -1.; Failed to set value 'cuda=cu:0' for option 'init_hw_device': Operation not permitted"},
		{"duplicates and blanks", "\n  x\nx\n\r\ny\n", "x; y"},
		{"only generic", "Conversion failed!\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := errorSummary(tt.stderr); got != tt.want {
				t.Fatalf("errorSummary = %q, want %q", got, tt.want)
			}
		})
	}
}

func FuzzErrorSummary(f *testing.F) {
	f.Add("[h264_nvenc @ 0x560a48faf680] Cannot load libcuda.so.1\nConversion failed!\n")
	f.Add("Device creation failed: -542398533.\n")
	f.Add(strings.Repeat("a", 1000))
	f.Fuzz(func(t *testing.T, s string) {
		got := errorSummary(s)
		if len(got) > 400 || strings.Contains(got, "\n") {
			t.Fatalf("summary too long or multi-line: %q", got)
		}
	})
}

// hasDevice reports whether the machine could have the profile's hardware.
func hasDevice(p Profile) bool {
	var pattern string
	switch p.kind {
	case kindNVENC:
		pattern = "/dev/nvidia[0-9]*"
	case kindQSV:
		pattern = "/dev/dri/renderD*"
	default:
		return true
	}
	m, _ := filepath.Glob(pattern)
	return len(m) > 0
}

func TestProbe(t *testing.T) {
	tests := []struct {
		profile Profile
		detail  string // expected in the reason when the device is missing
	}{
		{Software(), ""},
		{NVENC(), "libcuda"},
		{QSV(), "Device creation failed"},
	}
	for _, tt := range tests {
		t.Run(tt.profile.Name, func(t *testing.T) {
			t.Parallel()
			p, err := New(Config{Profile: tt.profile, Version: "1.2.3"})
			if err != nil {
				t.Fatal(err)
			}
			r, err := p.Probe(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if r.Name != tt.profile.Name || r.Encoder != tt.profile.Encoder || r.Version != "1.2.3" || r.ApiVersion != 1 || r.Hardware != tt.profile.Hardware {
				t.Fatalf("probe identity = %+v", r)
			}
			switch {
			case !tt.profile.Hardware && !r.HardwareOk:
				t.Fatalf("libx264 trial failed: %s", r.Reason)
			case r.HardwareOk && r.Reason != "":
				t.Fatalf("passed with a reason: %q", r.Reason)
			case !r.HardwareOk && !strings.HasPrefix(r.Reason, tt.profile.hint()+": "):
				t.Fatalf("reason %q does not start with the profile's hint", r.Reason)
			case !hasDevice(tt.profile) && r.HardwareOk:
				t.Fatal("trial passed without the device")
			case !hasDevice(tt.profile) && !strings.Contains(r.Reason, tt.detail):
				t.Fatalf("reason %q lacks ffmpeg's %q", r.Reason, tt.detail)
			}
			t.Logf("%s: ok=%v reason=%q", tt.profile.Name, r.HardwareOk, r.Reason)
		})
	}
}

func TestProbeWithoutFFmpeg(t *testing.T) {
	p, err := New(Config{Profile: Software(), FFmpeg: filepath.Join(t.TempDir(), "no-ffmpeg")})
	if err != nil {
		t.Fatal(err)
	}
	r, err := p.Probe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if r.HardwareOk || !strings.Contains(r.Reason, "ffmpeg not found") {
		t.Fatalf("probe = %+v, want a failure saying ffmpeg is missing", r)
	}
}
