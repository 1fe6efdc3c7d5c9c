//go:build e2e

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// The dashboard suite drives headless Chromium (chromedp, /usr/bin/chromium)
// against real colony processes, and writes a screenshot of each page to
// $COLONY_E2E_OUT (default testdata/out/dashboard).

// dashChromium is Debian's Chromium (apt-get install chromium).
const dashChromium = "/usr/bin/chromium"

// dashBrowser is one headless Chromium tab.
type dashBrowser struct {
	t   *testing.T
	ctx context.Context
	out string

	mu   sync.Mutex
	logs []string // console errors and uncaught exceptions of the page
}

func newDashBrowser(t *testing.T) *dashBrowser {
	t.Helper()
	if _, err := os.Stat(dashChromium); err != nil {
		t.Fatalf("the dashboard tests need Chromium at %s (apt-get install -y chromium): %v", dashChromium, err)
	}
	out := os.Getenv("COLONY_E2E_OUT")
	if out == "" {
		out = filepath.Join(repoRoot(t), "testdata", "out")
	}
	out = filepath.Join(out, "dashboard")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	b := &dashBrowser{t: t, out: out}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(dashChromium),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 900),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.Flag("disable-features", "Translate,WebRtcHideLocalIpsWithMdns"),
	)
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithListener(b.listen))
	t.Cleanup(func() {
		cancel()
		acancel()
		if t.Failed() {
			t.Logf("---- browser console ----\n%s", strings.Join(b.console(), "\n"))
		}
	})
	b.ctx = ctx
	// The first action starts the browser, which lives as long as the
	// context of that action: give it b.ctx itself, not one with a timeout.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return b
}

func (b *dashBrowser) listen(ev any) {
	var line string
	switch e := ev.(type) {
	case *runtime.EventExceptionThrown:
		line = "exception: " + e.ExceptionDetails.Text
		if e.ExceptionDetails.Exception != nil {
			line += " " + e.ExceptionDetails.Exception.Description
		}
	case *runtime.EventConsoleAPICalled:
		var args []string
		for _, a := range e.Args {
			args = append(args, string(a.Value)+a.Description)
		}
		line = fmt.Sprintf("console.%s: %s", e.Type, strings.Join(args, " "))
	default:
		return
	}
	b.mu.Lock()
	b.logs = append(b.logs, line)
	b.mu.Unlock()
}

func (b *dashBrowser) console() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.logs...)
}

// do runs actions with a timeout, failing the test on error.
func (b *dashBrowser) do(timeout time.Duration, what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("browser: %s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression into T.
func dashEval[T any](b *dashBrowser, expr string) (T, error) {
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](expr))
}

// waitJS polls expr until it is true.
func (b *dashBrowser) waitJS(timeout time.Duration, what, expr string) {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		ok, err := dashEval[bool](b, expr)
		if err == nil && ok {
			return
		}
		last = err
		time.Sleep(200 * time.Millisecond)
	}
	b.screenshot("failed-" + strings.ReplaceAll(what, " ", "-") + ".png")
	b.t.Fatalf("browser: %s: not true after %v (last error %v)", what, timeout, last)
}

// route moves the page to a hash route.
func (b *dashBrowser) route(hash string) {
	b.t.Helper()
	if _, err := dashEval[bool](b, fmt.Sprintf("location.hash = %q; true", hash)); err != nil {
		b.t.Fatalf("browser: go to %s: %v", hash, err)
	}
}

// screenshot writes the viewport as a PNG under the output directory.
func (b *dashBrowser) screenshot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Errorf("screenshot %s: %v", name, err)
		return
	}
	p := filepath.Join(b.out, name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		b.t.Errorf("screenshot %s: %v", name, err)
		return
	}
	b.t.Logf("screenshot %s", p)
}

// frames returns the player's decoded frame count and current time.
func (b *dashBrowser) frames() (int, float64) {
	b.t.Helper()
	v, err := dashEval[[]float64](b, `(() => { const v = document.getElementById('player'); if (!v) return [0, 0];
		const q = v.getVideoPlaybackQuality(); return [q.totalVideoFrames, v.currentTime]; })()`)
	if err != nil || len(v) != 2 {
		return 0, 0
	}
	return int(v[0]), v[1]
}

// waitPlaying waits until the player decodes frames and its clock advances.
func (b *dashBrowser) waitPlaying(what string) {
	b.t.Helper()
	b.waitJS(30*time.Second, what+" first frames", `(() => { const v = document.getElementById('player');
		return !!v && v.getVideoPlaybackQuality().totalVideoFrames > 15 && v.videoWidth > 0; })()`)
	// Playing: a second of media played and frames decoded within 10 s
	// (a low-latency player on a loaded machine may rebuffer once on its
	// way; a stuck one fails).
	f1, t1 := b.frames()
	start := time.Now()
	f2, t2 := f1, t1
	for time.Since(start) < 10*time.Second {
		time.Sleep(500 * time.Millisecond)
		if f2, t2 = b.frames(); f2 > f1 && t2-t1 >= 1 {
			b.t.Logf("%s: %d -> %d frames decoded, time %.2f -> %.2f s in %v", what, f1, f2, t1, t2, time.Since(start).Round(100*time.Millisecond))
			return
		}
	}
	b.screenshot("failed-" + what + ".png")
	b.t.Fatalf("%s: frames %d -> %d, time %.2f -> %.2f over 10 s: not playing", what, f1, f2, t1, t2)
}

// TestDashboardCluster: the cluster page of a live three-node cluster lists
// the three nodes as Live; a killed node shows Inaccessible within 25 s,
// and then the page's delete action removes it.
func TestDashboardCluster(t *testing.T) {
	c := newCluster(t)
	c.node("dash-origin", "origin", "127.0.0.2")
	edge := c.node("dash-edge1", "edge", "127.0.0.3")
	victim := c.node("dash-edge2", "edge", "127.0.0.4")

	b := newDashBrowser(t)
	b.do(30*time.Second, "open the cluster page", chromedp.Navigate(edge.HTTP+"/#/cluster"))
	b.waitJS(20*time.Second, "three nodes Live", `(() => {
		const rows = [...document.querySelectorAll('#nodes-body tr[data-node]')];
		return rows.length === 3 && rows.every((r) => r.querySelector('.status').textContent === 'Live'); })()`)
	cells, err := dashEval[[]string](b, `[...document.querySelectorAll('#nodes-body tr[data-node="dash-origin"] td')].map((td) => td.textContent)`)
	if err != nil || len(cells) < 11 || !strings.Contains(cells[1], "127.0.0.2:") || cells[2] != "origin" || cells[3] != "default" || !strings.HasSuffix(cells[4], "%") || !strings.HasSuffix(cells[9], "ago") {
		t.Fatalf("origin row = %q (%v)", cells, err)
	}
	b.screenshot("cluster-live.png")

	killed := time.Now()
	victim.kill()
	b.waitJS(25*time.Second, "killed node Inaccessible", `(() => {
		const s = document.querySelector('#nodes-body tr[data-node="dash-edge2"] .status');
		return !!s && s.textContent === 'Inaccessible'; })()`)
	t.Logf("the killed node showed Inaccessible after %v", time.Since(killed).Round(100*time.Millisecond))
	live, err := dashEval[int](b, `[...document.querySelectorAll('#nodes-body .status')].filter((s) => s.textContent === 'Live').length`)
	if err != nil || live != 2 {
		t.Fatalf("%d nodes Live after the kill (%v), want 2", live, err)
	}
	b.screenshot("cluster-inaccessible.png")

	// Live nodes have no delete button; the dead one's removes it.
	if n, _ := dashEval[int](b, `document.querySelectorAll('#nodes-body button.delete-node').length`); n != 1 {
		t.Fatalf("%d delete buttons, want 1 (the dead node's)", n)
	}
	b.do(10*time.Second, "delete the dead node", chromedp.Click(chromedp.CSS(`#nodes-body tr[data-node="dash-edge2"] button.delete-node`)))
	b.waitJS(10*time.Second, "dead node gone", `!document.querySelector('#nodes-body tr[data-node="dash-edge2"]') &&
		document.querySelectorAll('#nodes-body tr[data-node]').length === 2`)
	var count struct{ Number int }
	getJSON(t, edge.HTTP+"/rest/v2/cluster/node-count", &count)
	if count.Number != 2 {
		t.Fatalf("node-count after delete = %d, want 2", count.Number)
	}
}

// TestDashboardStreamsAndPlayer: the streams page shows a live stream; the
// player plays it by HLS and (when WHEP is served) by WebRTC; the
// applications page saves an ABR ladder and token settings.
func TestDashboardStreamsAndPlayer(t *testing.T) {
	n := startNode(t, "dash", nodeOpts{})
	publish(t, n.RTMP+"/LiveApp/dash1")
	waitStatus(t, n, "LiveApp", "dash1", "broadcasting", 15*time.Second)

	b := newDashBrowser(t)
	b.do(30*time.Second, "open the streams page", chromedp.Navigate(n.HTTP+"/#/streams/LiveApp"))
	b.waitJS(15*time.Second, "live stream listed", `(() => {
		const r = document.querySelector('#streams-body tr[data-stream="dash1"]');
		return !!r && r.querySelector('.status').textContent === 'broadcasting' && r.querySelector('.resolution').textContent === '1280×720'; })()`)
	row, err := dashEval[[]string](b, `[...document.querySelectorAll('#streams-body tr[data-stream="dash1"] td')].map((td) => td.textContent)`)
	var live struct{ Node string }
	getJSON(t, n.HTTP+"/rest/v2/liveness", &live)
	if err != nil || len(row) < 10 || row[2] != "RTMP" || row[3] != live.Node || live.Node == "" {
		t.Fatalf("stream row = %q (%v)", row, err)
	}
	b.screenshot("streams.png")

	t.Run("hls", func(t *testing.T) {
		b.t = t
		b.route("#/play/LiveApp/dash1")
		b.waitPlaying("HLS")
		b.screenshot("player-hls.png")
	})

	t.Run("webrtc", func(t *testing.T) {
		b.t = t
		if !dashWHEPServed(t, n) {
			t.Fatal("WHEP is not served (OPTIONS /LiveApp/whep/dash1 answers 404): the WebRTC player cannot play")
		}
		b.route("#/play/LiveApp/dash1?proto=webrtc")
		b.waitPlaying("WebRTC")
		b.screenshot("player-webrtc.png")
	})

	t.Run("applications", func(t *testing.T) {
		b.t = t
		b.route("#/apps/LiveApp")
		b.waitJS(10*time.Second, "settings form", `!!document.getElementById('app-settings')`)
		b.do(10*time.Second, "edit the ladder and tokens",
			chromedp.Click(chromedp.ID("add-rung")),
			chromedp.SetValue(chromedp.CSS(`#ladder tr:last-child input[name=height]`), "480"),
			chromedp.SetValue(chromedp.CSS(`#ladder tr:last-child input[name=videoKbps]`), "1000"),
			chromedp.SetValue(chromedp.CSS(`#ladder tr:last-child input[name=audioKbps]`), "96"),
			chromedp.Click(chromedp.CSS(`#app-settings input[name=publishTokenControlEnabled]`)),
			chromedp.Click(chromedp.CSS(`#app-settings button[type=submit]`)),
		)
		b.waitJS(10*time.Second, "saved", `document.querySelector('#app-settings .notice').textContent === 'Saved.'`)
		var s struct {
			EncoderSettings []struct {
				Height, VideoBitrate, AudioBitrate int
			} `json:"encoderSettings"`
			PublishTokenControlEnabled bool `json:"publishTokenControlEnabled"`
			HLSMuxingEnabled           bool `json:"hlsMuxingEnabled"`
		}
		getJSON(t, n.HTTP+"/rest/v2/applications/settings/LiveApp", &s)
		if len(s.EncoderSettings) != 1 || s.EncoderSettings[0].Height != 480 || s.EncoderSettings[0].VideoBitrate != 1_000_000 ||
			s.EncoderSettings[0].AudioBitrate != 96_000 || !s.PublishTokenControlEnabled || !s.HLSMuxingEnabled {
			t.Fatalf("settings after saving from the page = %+v", s)
		}
		b.screenshot("applications.png")
	})
}

// dashWHEPServed reports whether the node answers WHEP (the WebRTC adapter is
// mounted): the mux's catch-all answers an OPTIONS preflight 404 otherwise.
func dashWHEPServed(t *testing.T, n *colonyNode) bool {
	t.Helper()
	req, _ := http.NewRequest(http.MethodOptions, n.HTTP+"/LiveApp/whep/dash1", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode != http.StatusNotFound
}

const dashboardAccessConfig = `rest:
  allowed_cidrs: ["192.0.2.0/24"]
  jwt_secret: "e2e-rest-secret-0123456789abcdefghij"
  admin_user: admin
  admin_password: "e2e-password"
`

// TestDashboardLogin: a node that lets no address in without a token shows
// the login form; the admin login opens the dashboard, and its token opens
// the REST API.
func TestDashboardLogin(t *testing.T) {
	n := startNode(t, "locked", nodeOpts{config: dashboardAccessConfig})
	if code, _, body := httpGet(t, n.HTTP+"/rest/v2/cluster/node-count"); code != 403 || !strings.Contains(body, `"success":false`) {
		t.Fatalf("REST from a refused address = %d %s, want 403", code, body)
	}

	b := newDashBrowser(t)
	b.do(30*time.Second, "open the cluster page", chromedp.Navigate(n.HTTP+"/#/cluster"))
	b.waitJS(10*time.Second, "login form shown", `!document.getElementById('login').hidden`)
	b.do(10*time.Second, "log in with a wrong password",
		chromedp.SetValue(chromedp.ID("login-user"), "admin"),
		chromedp.SetValue(chromedp.ID("login-password"), "wrong"),
		chromedp.Click(chromedp.CSS(`#login-form button[type=submit]`)))
	b.waitJS(10*time.Second, "login refused", `document.getElementById('login-error').textContent.includes('wrong user or password')`)
	b.screenshot("login.png")
	b.do(10*time.Second, "log in",
		chromedp.SetValue(chromedp.ID("login-password"), "e2e-password"),
		chromedp.Click(chromedp.CSS(`#login-form button[type=submit]`)))
	b.waitJS(15*time.Second, "cluster page after login", `document.getElementById('login').hidden &&
		document.querySelector('#nodes-body tr[data-node] .status')?.textContent === 'Live'`)
	b.screenshot("cluster-after-login.png")

	tok, err := dashEval[string](b, `sessionStorage.getItem('colony.token')`)
	if err != nil || tok == "" {
		t.Fatalf("no token kept after login: %v", err)
	}
	req, _ := http.NewRequest("GET", n.HTTP+"/rest/v2/cluster/node-count", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var count struct{ Number int }
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	if resp.StatusCode != 200 || json.Unmarshal(buf.Bytes(), &count) != nil || count.Number != 1 {
		t.Fatalf("REST with the login token = %d %s", resp.StatusCode, buf.String())
	}
}
