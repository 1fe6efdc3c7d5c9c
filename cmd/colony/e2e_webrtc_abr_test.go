//go:build e2e

package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/colony-live/colony/adapters/webrtc/client"
)

// TestWebRTCABR: with an ABR ladder (the ffmpeg plugin), a WHEP viewer
// pinned to 240p (?quality=240) receives the 240p rendition, which ffmpeg
// decodes at that height; a height the ladder lacks is refused (404).
func TestWebRTCABR(t *testing.T) {
	dir := abrPluginDir(t)
	n := startNode(t, "webrtcabr", nodeOpts{config: fmt.Sprintf("transcoder:\n  plugin: ffmpeg\n  plugin_dir: %q\n", dir)})
	abrPut(t, n.HTTP+"/rest/v2/applications/settings/LiveApp", abrLadderJSON, 200)
	publish(t, n.RTMP+"/LiveApp/wabr")
	abrWaitVariants(t, n.HTTP+"/LiveApp/streams/wabr_adaptive.m3u8", 3, 45*time.Second)

	whep := n.HTTP + "/LiveApp/whep/wabr"
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if bad, err := client.Play(ctx, whep+"?quality=360", client.PlayOptions{}); err == nil {
		bad.Close()
		t.Fatal("WHEP ?quality=360 (no such rung) was accepted")
	} else if !strings.Contains(err.Error(), strconv.Itoa(http.StatusNotFound)) {
		t.Fatalf("WHEP ?quality=360: %v, want a 404", err)
	}

	rec := filepath.Join(t.TempDir(), "received.h264")
	f, err := os.Create(rec)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pl, err := client.Play(ctx, whep+"?quality=240", client.PlayOptions{Record: f, Options: client.Options{Logger: clientLogger()}})
	if err != nil {
		t.Fatalf("play: %v", err)
	}
	if err := pl.WaitFrames(ctx, 90); err != nil {
		pl.Close()
		t.Fatalf("play: %v (stats %+v)", err, pl.Stats())
	}
	if err := pl.Close(); err != nil {
		t.Fatalf("play session ended with %v", err)
	}
	if n := decodeAnnexB(t, rec); n < 60 {
		t.Fatalf("ffmpeg decoded %d frames, want at least 60", n)
	}
	heights := decodedHeights(t, rec)
	if len(heights) == 0 || heights[len(heights)-1] != 240 {
		t.Fatalf("decoded frame heights end with %v, want 240", tail(heights, 5))
	}
	// The pinned viewer may start on the source (when the rendition has
	// no audio of its own) but is on 240p from its first switch on.
	first := -1
	for i, h := range heights {
		if h == 240 && first < 0 {
			first = i
		}
		if first >= 0 && h != 240 {
			t.Fatalf("frame %d is %dp after the switch to 240p", i, h)
		}
	}
	t.Logf("%d frames decoded; 240p from frame %d on", len(heights), first)
	if first > 75 {
		t.Fatalf("the first 240p frame is frame %d: the switch took longer than 2.5 s", first)
	}
}

// decodedHeights decodes an Annex-B file and returns each frame's height.
func decodedHeights(t *testing.T, path string) []int {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command("ffprobe", "-v", "error", "-f", "h264", "-select_streams", "v:0", "-show_entries", "frame=height", "-of", "csv=p=0", path)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("ffprobe: %v\n%s", err, errb.String())
	}
	var hs []int
	for _, l := range strings.Split(out.String(), "\n") {
		if h, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(l, ","))); err == nil {
			hs = append(hs, h)
		}
	}
	return hs
}

func tail(xs []int, n int) []int { return xs[max(len(xs)-n, 0):] }
