//go:build e2e

package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/colony-live/colony/adapters/webrtc/client"
)

// TestHLSAudioAAC: a WHIP publication carries Opus audio, which Safari,
// iOS and many HLS players cannot play. With the ffmpeg transcoder plugin,
// its HLS carries the AAC companion instead (hls.audio auto); with
// hls.audio opus, the Opus as it is.
func TestHLSAudioAAC(t *testing.T) {
	dir := t.TempDir()
	abrColonyOK(t, "plugins", "--plugin-dir", dir, "install", filepath.Join(filepath.Dir(colonyBin(t)), pluginPrefix+"ffmpeg"))
	h264Path, oggPath := webrtcClip(t)
	for _, tc := range []struct {
		audio, want, notWant string
	}{
		{"auto", "aac", "opus"},
		{"opus", "opus", "aac"},
	} {
		t.Run(tc.audio, func(t *testing.T) {
			n := startNode(t, "hls-audio-"+tc.audio, nodeOpts{config: fmt.Sprintf(
				"transcoder:\n  plugin: ffmpeg\n  plugin_dir: %q\nhls:\n  audio: %s\n", dir, tc.audio)})
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			pub, err := client.Publish(ctx, n.HTTP+"/LiveApp/whip/aa1", clipSource(t, h264Path, oggPath), client.Options{})
			if err != nil {
				t.Fatalf("WHIP publish: %v", err)
			}
			defer pub.Close()
			waitStatus(t, n, "LiveApp", "aa1", "broadcasting", 20*time.Second)
			url := n.HTTP + "/LiveApp/streams/aa1.m3u8"
			eventually(t, 30*time.Second, "HLS playlist of the WebRTC stream", func() error {
				if code, _, _ := httpGet(t, url); code != 200 {
					return errStatus(code)
				}
				return nil
			})
			got := strings.Join(ffprobeStreams(t, url), ",")
			t.Logf("HLS of a WHIP stream with hls.audio %s: %s", tc.audio, got)
			if !strings.Contains(got, "h264 1280x720") || !strings.Contains(got, tc.want) || strings.Contains(got, tc.notWant) {
				t.Fatalf("ffprobe found %q, want h264 1280x720 and %s audio", got, tc.want)
			}
		})
	}
}
