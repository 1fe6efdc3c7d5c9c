package hls

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestConfig(t *testing.T) {
	d := Config{}.withDefaults()
	if d.Variant != VariantLowLatency || d.SegmentCount != 7 || d.SegmentMinDuration != time.Second ||
		d.PartMinDuration != 120*time.Millisecond || d.AllowOrigin != "*" || d.ReadyTimeout != 10*time.Second ||
		d.Logger == nil || d.Directory != "" {
		t.Errorf("defaults %+v", d)
	}
	for _, tc := range []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"defaults", Config{}, true},
		{"mpegts 3 segments", Config{Variant: VariantMPEGTS, SegmentCount: 3}, true},
		{"fmp4", Config{Variant: VariantFMP4}, true},
		{"unknown variant", Config{Variant: "dash"}, false},
		{"ll too few segments", Config{SegmentCount: 6}, false},
		{"mpegts too few segments", Config{Variant: VariantMPEGTS, SegmentCount: 2}, false},
		{"negative duration", Config{PartMinDuration: -time.Second}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg, &fakePlay{})
			if tc.ok != (err == nil) || (err != nil && !errors.Is(err, ErrInvalidConfig)) {
				t.Errorf("New: %v", err)
			}
		})
	}
	if _, err := New(Config{}, nil); !errors.Is(err, ErrNilPlayback) {
		t.Errorf("nil Playback: %v", err)
	}
}

// TestDirectory keeps segments on disk, in a directory per stream that
// disappears with the stream.
func TestDirectory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// What a crash left behind is removed at start; nothing else is.
	leftover := filepath.Join(dir, muxerDirPrefix+"LiveApp_old_123")
	if err := os.MkdirAll(leftover, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(leftover, "seg1.mp4"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	mine := filepath.Join(dir, "operator-notes")
	if err := os.Mkdir(mine, 0o755); err != nil {
		t.Fatal(err)
	}
	ts := newTestServer(t, Config{Variant: VariantFMP4, Directory: dir})
	if _, err := os.Stat(leftover); !os.IsNotExist(err) {
		t.Fatalf("leftover segment directory kept: %v", err)
	}
	if err := os.Remove(mine); err != nil {
		t.Fatalf("a directory not Colony's was touched: %v", err)
	}
	key := mustKey(t, "LiveApp", "disk")
	_, stop := ts.publish(t, key, 4*time.Second)
	_, mediaPath := ts.mainPlaylist(t, "disk")
	_, pl, _ := ts.get(t, mediaPath)
	seg := uris(pl)[0]
	if code, body, _ := ts.get(t, "/LiveApp/streams/"+seg); code != 200 || len(body) == 0 {
		t.Errorf("segment from disk: %d, %d bytes", code, len(body))
	}
	if n := countFiles(t, dir); n == 0 {
		t.Error("no segment files on disk")
	}
	stop()
	waitFor(t, "muxer removed", func() bool { return ts.srv.Streams() == 0 })
	if n := countFiles(t, dir); n != 0 {
		t.Errorf("%d files left after the stream ended", n)
	}
}
