//go:build e2e

package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2"
	"github.com/bluenviron/gohlslib/v2/pkg/codecs"
)

// hlsPlay is what gohlslib's client received.
type hlsPlay struct {
	codecs   []string
	videoDTS []int64 // in the track's clock rate
	audioPTS []int64
	keyframe bool
}

// playHLS plays url with gohlslib's client for dur.
func playHLS(t *testing.T, url string, dur time.Duration) hlsPlay {
	t.Helper()
	var mu sync.Mutex
	var res hlsPlay
	c := &gohlslib.Client{URI: url}
	c.OnTracks = func(tracks []*gohlslib.Track) error {
		for _, tr := range tracks {
			switch tr.Codec.(type) {
			case *codecs.H264:
				mu.Lock()
				res.codecs = append(res.codecs, "h264")
				mu.Unlock()
				c.OnDataH26x(tr, func(pts, dts int64, au [][]byte) {
					mu.Lock()
					defer mu.Unlock()
					res.videoDTS = append(res.videoDTS, dts)
					for _, n := range au {
						if len(n) > 0 && n[0]&0x1f == 5 {
							res.keyframe = true
						}
					}
				})
			case *codecs.MPEG4Audio:
				mu.Lock()
				res.codecs = append(res.codecs, "aac")
				mu.Unlock()
				c.OnDataMPEG4Audio(tr, func(pts int64, aus [][]byte) {
					mu.Lock()
					defer mu.Unlock()
					res.audioPTS = append(res.audioPTS, pts)
				})
			default:
				mu.Lock()
				res.codecs = append(res.codecs, fmt.Sprintf("%T", tr.Codec))
				mu.Unlock()
			}
		}
		return nil
	}
	if err := c.Start(); err != nil {
		t.Fatalf("gohlslib client: %v", err)
	}
	errc := c.Wait()
	select {
	case err := <-errc:
		t.Fatalf("gohlslib client stopped: %v", err)
	case <-time.After(dur):
	}
	c.Close()
	mu.Lock()
	defer mu.Unlock()
	return res
}

// assertIncreasing checks that ts strictly increases with steps no larger than maxStep.
func assertIncreasing(t *testing.T, what string, ts []int64, minCount int, maxStep int64) {
	t.Helper()
	if len(ts) < minCount {
		t.Fatalf("%s: %d samples, want at least %d", what, len(ts), minCount)
	}
	for i := 1; i < len(ts); i++ {
		if d := ts[i] - ts[i-1]; d <= 0 || d > maxStep {
			t.Fatalf("%s: sample %d steps by %d (from %d to %d)", what, i, d, ts[i-1], ts[i])
		}
	}
}

// httpGet returns the status, a header and the body of url.
func httpGet(t *testing.T, url string) (int, http.Header, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// mediaPlaylist fetches the multivariant playlist at url and returns the
// first media playlist it references.
func mediaPlaylist(t *testing.T, base, url string) string {
	t.Helper()
	code, _, body := httpGet(t, url)
	if code != 200 {
		t.Fatalf("GET %s: %d", url, code)
	}
	for _, l := range strings.Split(body, "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !strings.HasPrefix(l, "#") {
			_, _, media := httpGet(t, base+l)
			return media
		}
	}
	return body // already a media playlist
}
