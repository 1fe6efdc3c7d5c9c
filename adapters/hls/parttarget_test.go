package hls

import (
	"context"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/internal/syncbuf"
)

var partDurRe = regexp.MustCompile(`#EXT-X-PART:DURATION=([0-9.]+)`)

// TestPartTargetSteadyWithRTMPTimestamps: RTMP carries timestamps in
// milliseconds, so at 30 fps a part of 4 frames lasts 133 or 134 ms.
// PART-TARGET must not follow that rounding: from the stream's first
// playlist on it stays one value (a change is an error to iOS players),
// and every part listed fits under it.
func TestPartTargetSteadyWithRTMPTimestamps(t *testing.T) {
	var logs syncbuf.Buffer
	ts := newTestServer(t, Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	key := mustKey(t, "LiveApp", "msts")
	c := testClip(t)
	for i := range c.units { // as an RTMP publisher delivers them
		c.units[i].PTS = c.units[i].PTS.Round(time.Millisecond)
		c.units[i].DTS = c.units[i].DTS.Round(time.Millisecond)
	}
	s := media.NewStream(c.tracks, media.StreamConfig{})
	defer s.Close()
	ts.reg.set(key, s)
	ts.srv.Attach(key, s)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() { feed(ctx, s, c, 0) })

	targets := map[float64]bool{}
	var mediaPath, last string
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if mediaPath == "" {
			code, main, _ := ts.get(t, "/LiveApp/streams/msts.m3u8")
			if code != 200 {
				continue
			}
			mediaPath = "/LiveApp/streams/" + uris(main)[0]
		}
		code, pl, _ := ts.get(t, mediaPath)
		if code != 200 || !strings.Contains(pl, "#EXT-X-PART-INF") {
			continue
		}
		target := floatOf(t, partInfRe, pl)
		targets[target] = true
		for _, m := range partDurRe.FindAllStringSubmatch(pl, -1) {
			if d := floatOf(t, partDurRe, m[0]); d > target+1e-9 {
				t.Errorf("part of %vs over PART-TARGET %vs", d, target)
			}
		}
		last = pl
	}
	if len(targets) != 1 {
		t.Errorf("PART-TARGET took %d values %v over the stream's first 3 s, want one; last playlist:\n%s", len(targets), targets, last)
	}
	if strings.Contains(logs.String(), "part duration changed") {
		t.Errorf("the muxer reported a part target change:\n%s", logs.String())
	}
}
