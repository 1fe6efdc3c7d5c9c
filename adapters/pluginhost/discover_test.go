package pluginhost

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestDiscover(t *testing.T) {
	dir := t.TempDir()
	files := map[string]os.FileMode{
		"colony-transcoder-ffmpeg":        0o755,
		"colony-transcoder-nvenc":         0o700,
		"colony-transcoder-noexec":        0o644,
		"colony-transcoder-ffmpeg.sha256": 0o755,
		"colony-transcoder-":              0o755,
		"other-tool":                      0o755,
	}
	for name, mode := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "colony-transcoder-dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "colony-transcoder-ffmpeg"), filepath.Join(dir, "colony-transcoder-link")); err != nil {
		t.Fatal(err)
	}
	found, err := discover(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := sortedNames(found), []string{"ffmpeg", "link", "nvenc"}; !slices.Equal(got, want) {
		t.Fatalf("found %v, want %v", got, want)
	}
	if _, err := discover(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("a missing directory was accepted")
	}
}

func TestAutoOrder(t *testing.T) {
	got := autoOrder([]string{"ffmpeg", "amf", "qsv", "nvenc", "vaapi"})
	if want := []string{"nvenc", "qsv", "amf", "vaapi", "ffmpeg"}; !slices.Equal(got, want) {
		t.Fatalf("autoOrder = %v, want %v", got, want)
	}
}
