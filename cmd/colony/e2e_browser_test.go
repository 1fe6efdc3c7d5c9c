//go:build e2e

package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// The browser suite drives Debian's headless Chromium (chromedp) with the
// Ant Media SDK (@antmedia/webrtc_adaptor, installed in testdata/web by
// scripts/install-test-deps.sh): a page publishes the fake camera over
// the WebSocket signalling of a real colony node, a second page plays it.
// Run with -artifacts to keep the player's screenshot.

const sdkChromiumPath = "/usr/bin/chromium"

// webDir is the test-only npm project with the pages and the SDK.
func webDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(repoRoot(t), "testdata", "web")
	sdk := filepath.Join(dir, "node_modules", "@antmedia", "webrtc_adaptor", "dist", "browser", "webrtc_adaptor.js")
	if _, err := os.Stat(sdk); err != nil {
		t.Fatalf("the Ant Media SDK is missing (%v): run scripts/install-test-deps.sh (npm ci in testdata/web)", err)
	}
	if _, err := os.Stat(sdkChromiumPath); err != nil {
		t.Fatalf("chromium is missing (%v): run scripts/install-test-deps.sh", err)
	}
	return dir
}

// startChromium starts headless Chromium with a fake camera and
// microphone, and extra options.
func startChromium(t *testing.T, ctx context.Context, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(sdkChromiumPath),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.WindowSize(800, 700),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		// Host candidates as addresses, not mDNS names the server cannot resolve.
		chromedp.Flag("disable-features", "Translate,BlinkGenPropertyTrees,WebRtcHideLocalIpsWithMdns"),
	)
	opts = append(opts, extra...)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
	})
	// The first action starts the browser, which lives as long as the
	// context of that action.
	if err := chromedp.Do(browserCtx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return browserCtx
}

// pageLog keeps a page's console messages and exceptions for failure reports.
type pageLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *pageLog) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lines) < 200 {
		l.lines = append(l.lines, s)
	}
}

func (l *pageLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// openPage opens url in a new tab and records its console.
func openPage(t *testing.T, browserCtx context.Context, name, url string) (context.Context, *pageLog) {
	t.Helper()
	log := &pageLog{}
	tab, cancel := chromedp.NewContext(browserCtx, chromedp.WithListener(func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			var args []string
			for _, a := range ev.Args {
				args = append(args, strings.Trim(string(a.Value), `"`)+a.Description)
			}
			log.add(fmt.Sprintf("%s console.%s: %s", name, ev.Type, strings.Join(args, " ")))
		case *runtime.EventExceptionThrown:
			line := name + " exception: " + ev.ExceptionDetails.Text
			if ev.ExceptionDetails.Exception != nil {
				line += " " + ev.ExceptionDetails.Exception.Description
			}
			log.add(line)
		}
	}))
	t.Cleanup(cancel)
	if err := chromedp.Do(tab, chromedp.Navigate(url)); err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			ctx, cancel := context.WithTimeout(tab, 3*time.Second)
			defer cancel()
			events, _ := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.events || []`))
			t.Logf("---- %s page: events %v ----\n%s", name, events, log.String())
		}
	})
	return tab, log
}

// waitState waits until the page's window.state has key set; an error
// callback of the SDK fails the test at once.
func waitState(t *testing.T, tab context.Context, name, key string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(tab, 5*time.Second)
		st, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]any](`window.state || {}`))
		cancel()
		if err == nil {
			if st[key] == true {
				return
			}
			if e, ok := st["error"]; ok {
				t.Fatalf("%s page: SDK error %v while waiting for %s", name, e, key)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s page: no %s after %v (state %v, err %v)", name, key, timeout, st, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// videoFrames is what the player page's frames() reports.
type videoFrames struct {
	Total  int     `json:"total"`
	Width  int     `json:"width"`
	Height int     `json:"height"`
	Time   float64 `json:"time"`
}

func playerFrames(t *testing.T, tab context.Context) videoFrames {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, 5*time.Second)
	defer cancel()
	f, err := chromedp.Run(ctx, chromedp.Evaluate[videoFrames](`window.frames()`))
	if err != nil {
		t.Fatalf("player frames: %v", err)
	}
	return f
}

// TestBrowserPublishAndPlay: Chromium publishes its fake camera with the
// Ant Media SDK to a colony node and a second page plays it back with the
// SDK; the player renders frames, and the stream plays as HLS too.
func TestBrowserPublishAndPlay(t *testing.T) {
	dir := webDir(t)
	n := startNode(t, "standalone", nodeOpts{})
	pages := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(pages.Close)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	browser := startChromium(t, ctx)
	ws := wsURL(n, "WebRTCAppEE")
	q := url.Values{"ws": {ws}, "id": {"browser1"}}.Encode()

	start := time.Now()
	pub, _ := openPage(t, browser, "publisher", pages.URL+"/publish.html?"+q)
	waitState(t, pub, "publisher", "publish_started", 60*time.Second)
	t.Logf("publish_started after %v", time.Since(start).Round(time.Millisecond))
	waitStatus(t, n, "WebRTCAppEE", "browser1", "broadcasting", 20*time.Second)
	var b broadcastJSON
	getJSON(t, n.HTTP+"/WebRTCAppEE/rest/v2/broadcasts/browser1", &b)
	if b.PublishType != "WebRTC" {
		t.Fatalf("broadcast %+v, want publishType WebRTC", b)
	}

	start = time.Now()
	play, _ := openPage(t, browser, "player", pages.URL+"/play.html?"+q)
	waitState(t, play, "player", "play_started", 60*time.Second)
	t.Logf("play_started after %v", time.Since(start).Round(time.Millisecond))

	// The player renders frames, and keeps rendering them.
	var first videoFrames
	eventually(t, 30*time.Second, "the player renders frames", func() error {
		if first = playerFrames(t, play); first.Total < 10 || first.Width == 0 {
			return fmt.Errorf("frames %+v", first)
		}
		return nil
	})
	t.Logf("player frames rendered %v after play_started's request", time.Since(start).Round(time.Millisecond))
	var later videoFrames
	eventually(t, 30*time.Second, "the rendered frame count grows", func() error {
		if later = playerFrames(t, play); later.Total < first.Total+30 {
			return fmt.Errorf("frames %+v after %+v", later, first)
		}
		return nil
	})
	t.Logf("player video: %dx%d, %d frames rendered (was %d)", later.Width, later.Height, later.Total, first.Total)
	// Chromium decrypted what the server encrypted itself: the player was
	// sent on the direct SRTP path (the node plays on the muxed port).
	if v := metric(t, n, "colony_webrtc_direct_viewers_total"); v != 1 {
		t.Fatalf("colony_webrtc_direct_viewers_total = %v, want 1 (the player)", v)
	}
	// Whatever the browser NACKed, its retransmission budget paid for it.
	t.Logf("retransmissions: %v", metric(t, n, "colony_webrtc_retransmissions_total"))
	if v := metric(t, n, "colony_webrtc_retransmissions_refused_total"); v != 0 {
		t.Fatalf("colony_webrtc_retransmissions_refused_total = %v, want 0 for one browser on loopback", v)
	}

	sctx, scancel := context.WithTimeout(play, 15*time.Second)
	defer scancel()
	png, err := chromedp.Run(sctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	shot := filepath.Join(t.ArtifactDir(), "player.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("player screenshot: %s (kept with go test -artifacts)", shot)

	// The browser's stream plays as HLS: H.264 (the server prefers it in
	// the browser's offer) and Opus.
	hls := n.HTTP + "/WebRTCAppEE/streams/browser1.m3u8"
	eventually(t, 20*time.Second, "HLS playlist of the browser's stream", func() error {
		if code, _, _ := httpGet(t, hls); code != 200 {
			return errStatus(code)
		}
		return nil
	})
	got := strings.Join(ffprobeStreams(t, hls), ",")
	t.Logf("HLS of the browser's stream: %s", got)
	if !strings.Contains(got, "h264") {
		t.Fatalf("ffprobe found %q in the HLS of the browser's stream, want h264", got)
	}

	ictx, icancel := context.WithTimeout(pub, 5*time.Second)
	defer icancel()
	if events, err := chromedp.Run(ictx, chromedp.Evaluate[[]string](`window.events`)); err == nil {
		t.Logf("publisher events: %s", strings.Join(events, ", "))
	}
}

// audioFigures is what the player page's audio() reports: Chromium's
// inbound-rtp statistics of the audio it plays.
type audioFigures struct {
	Packets   float64 `json:"packets"`
	Samples   float64 `json:"samples"`
	Concealed float64 `json:"concealed"`
	JBDelay   float64 `json:"jbDelay"`   // seconds, summed over the samples emitted
	JBEmitted float64 `json:"jbEmitted"` // samples emitted from the jitter buffer
}

func playerAudio(t *testing.T, tab context.Context) audioFigures {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, 5*time.Second)
	defer cancel()
	a, err := chromedp.Run(ctx, chromedp.Evaluate[*audioFigures](`window.audio()`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("player audio: %v", err)
	}
	if a == nil {
		return audioFigures{}
	}
	return *a
}

// audioWindow is the audio a player received over a few seconds.
type audioWindow struct {
	packetsPerSec, samplesPerSec, concealed float64
	jitterBuffer                            time.Duration // the mean delay in Chromium's jitter buffer
}

func measureAudio(t *testing.T, tab context.Context, d time.Duration) audioWindow {
	t.Helper()
	a, start := playerAudio(t, tab), time.Now()
	time.Sleep(d)
	b, secs := playerAudio(t, tab), time.Since(start).Seconds()
	w := audioWindow{packetsPerSec: (b.Packets - a.Packets) / secs, samplesPerSec: (b.Samples - a.Samples) / secs}
	if n := b.Samples - a.Samples; n > 0 {
		w.concealed = (b.Concealed - a.Concealed) / n
	}
	if n := b.JBEmitted - a.JBEmitted; n > 0 {
		w.jitterBuffer = time.Duration((b.JBDelay - a.JBDelay) / n * float64(time.Second))
	}
	return w
}

// TestBrowserPackedAudio: a node packs Opus frames for a large audience
// (webrtc.audio_pack_viewers, here 2). Chromium publishes its fake camera
// and microphone (Opus in 20 ms packets) and a Chromium player gets about
// 50 audio packets a second; a second player makes the audience, and the
// first then gets about 17 a second, 60 ms each, and still plays all of
// the audio: samples at the real-time rate, next to none concealed.
func TestBrowserPackedAudio(t *testing.T) {
	dir := webDir(t)
	n := startNode(t, "packed", nodeOpts{config: "webrtc:\n  audio_pack_viewers: 2\n"})
	pages := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(pages.Close)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	browser := startChromium(t, ctx)
	q := url.Values{"ws": {wsURL(n, "WebRTCAppEE")}, "id": {"packed1"}}.Encode()
	pub, _ := openPage(t, browser, "publisher", pages.URL+"/publish.html?"+q)
	waitState(t, pub, "publisher", "publish_started", 60*time.Second)
	waitStatus(t, n, "WebRTCAppEE", "packed1", "broadcasting", 20*time.Second)

	check := func(phase string, w audioWindow, minPPS, maxPPS float64) {
		t.Helper()
		t.Logf("%s: %.1f audio packets/s, %.0f samples/s, %.2f %% concealed, jitter buffer %v",
			phase, w.packetsPerSec, w.samplesPerSec, 100*w.concealed, w.jitterBuffer.Round(time.Millisecond))
		switch {
		case w.packetsPerSec < minPPS || w.packetsPerSec > maxPPS:
			t.Errorf("%s: %.1f audio packets a second, want %.0f to %.0f", phase, w.packetsPerSec, minPPS, maxPPS)
		case w.samplesPerSec < 0.9*48000:
			t.Errorf("%s: %.0f samples a second played, want about 48000", phase, w.samplesPerSec)
		case w.concealed > 0.05:
			t.Errorf("%s: %.1f %% of the samples concealed", phase, 100*w.concealed)
		}
	}

	first, _ := openPage(t, browser, "player", pages.URL+"/play.html?"+q)
	waitState(t, first, "player", "play_started", 60*time.Second)
	eventually(t, 30*time.Second, "the player's audio", func() error {
		if a := playerAudio(t, first); a.Samples < 48000 {
			return fmt.Errorf("audio %+v", a)
		}
		return nil
	})
	if v := metric(t, n, "colony_webrtc_audio_packed"); v != 0 {
		t.Fatalf("colony_webrtc_audio_packed = %v with one viewer", v)
	}
	check("one viewer", measureAudio(t, first, 4*time.Second), 40, 60)

	second, _ := openPage(t, browser, "second player", pages.URL+"/play.html?"+q)
	waitState(t, second, "second player", "play_started", 60*time.Second)
	if v := metric(t, n, "colony_webrtc_audio_packed"); v != 1 {
		t.Fatalf("colony_webrtc_audio_packed = %v with two viewers", v)
	}
	time.Sleep(2 * time.Second) // the jitter buffer settles on the new packets
	check("two viewers, packed", measureAudio(t, first, 4*time.Second), 12, 22)
	if countLines(n.log.String(), `msg="Opus audio packed for a large audience"`, "viewers=2", "packet=60ms") != 1 {
		t.Errorf("no log line for the packing:\n%s", abrGrep(n.log.String(), "Opus"))
	}
}
