package client

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// ffmpeg runs ffmpeg with args, failing the test on error.
func ffmpeg(t *testing.T, args ...string) {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Fatal("the client tests need ffmpeg (scripts/install-test-deps.sh)")
	}
	out, err := exec.Command("ffmpeg", append([]string{"-hide_banner", "-v", "error"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg %v: %v\n%s", args, err, out)
	}
}

// h264File encodes seconds of 320x240 30 fps H.264 (an IDR every 30
// frames, no B-frames) into an Annex-B file, with access unit delimiters
// when aud is set.
func h264File(t *testing.T, seconds int, aud bool) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "clip.h264")
	args := []string{"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-t", strconv.Itoa(seconds),
		"-c:v", "libx264", "-g", "30", "-bf", "0", "-pix_fmt", "yuv420p", "-x264-params", "slices=2"}
	if aud {
		args = append(args, "-bsf:v", "h264_metadata=aud=insert")
	}
	ffmpeg(t, append(args, "-f", "h264", p)...)
	return p
}

// opusFile encodes seconds of a tone into Ogg Opus with ffmpeg's default
// one-second pages (many packets a page).
func opusFile(t *testing.T, seconds int) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tone.ogg")
	ffmpeg(t, "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", strconv.Itoa(seconds),
		"-c:a", "libopus", "-ac", "2", "-f", "ogg", p)
	return p
}

func open(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}
