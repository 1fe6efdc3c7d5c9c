//go:build browser

package webrtc

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/ports"
)

// The browser suite drives headless Chromium with the Ant Media SDK
// (@antmedia/webrtc_adaptor 2.16.x, its dist/browser/webrtc_adaptor.js,
// from testdata/web/node_modules or named by COLONY_WEBRTC_ADAPTOR_JS): the
// fake camera publishes over the WebSocket, then a second adaptor plays the
// stream back.
//
//	go test -tags browser -run TestBrowser ./adapters/webrtc/
const browserPage = `<!doctype html><html><body>
<video id="local" autoplay muted playsinline></video>
<video id="remote" autoplay muted playsinline></video>
<script>
// The browser bundle's video-effect plugin expects MediaPipe's global.
window.SelfieSegmentation = class { setOptions() {} onResults() {} initialize() { return Promise.resolve(); } };
</script>
<script src="/sdk.js"></script>
<script>
const report = (ev, data) => fetch('/report', {method: 'POST', body: JSON.stringify({ev: ev, data: String(data)})});
const ws = location.origin.replace('http', 'ws') + '/LiveApp/websocket';
const pub = new webrtc_adaptor.WebRTCAdaptor({
  websocket_url: ws, mediaConstraints: {video: true, audio: true},
  sdp_constraints: {OfferToReceiveAudio: false, OfferToReceiveVideo: false}, localVideoId: 'local',
  callback: (info, obj) => {
    if (info != 'pong') report('pub:' + info, obj && obj.streamId);
    if (info == 'initialized') pub.publish('s1');
    if (info == 'publish_started') setTimeout(startPlay, 2000);
  },
  callbackError: (e, m) => report('puberr:' + e, JSON.stringify(m)),
});
function startPlay() {
  const player = new webrtc_adaptor.WebRTCAdaptor({
    websocket_url: ws, isPlayMode: true, mediaConstraints: {video: false, audio: false},
    sdp_constraints: {OfferToReceiveAudio: true, OfferToReceiveVideo: true}, remoteVideoId: 'remote',
    callback: (info, obj) => {
      if (info != 'pong') report('play:' + info, '');
      if (info == 'initialized') player.play('s1');
      if (info == 'play_started') setTimeout(() => {
        const v = document.getElementById('remote');
        report('remoteVideo', v.videoWidth + 'x' + v.videoHeight + ' t=' + v.currentTime);
      }, 3000);
    },
    callbackError: (e, m) => report('playerr:' + e, JSON.stringify(m)),
  });
}
</script></body></html>`

func TestBrowserAntMediaSDK(t *testing.T) {
	sdk := os.Getenv("COLONY_WEBRTC_ADAPTOR_JS")
	if sdk == "" {
		// The copy scripts/install-test-deps.sh installs (npm ci in testdata/web).
		sdk = filepath.Join("..", "..", "testdata", "web", "node_modules", "@antmedia", "webrtc_adaptor", "dist", "browser", "webrtc_adaptor.js")
	}
	if _, err := os.Stat(sdk); err != nil {
		t.Fatalf("@antmedia/webrtc_adaptor's dist/browser/webrtc_adaptor.js: %v (run scripts/install-test-deps.sh or set COLONY_WEBRTC_ADAPTOR_JS)", err)
	}
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is required")
	}
	pubs := make(chan *fakePub, 1)
	ingest := fakeIngest{publish: func(_ context.Context, req ports.PublishRequest) (ports.Publication, error) {
		p := newFakePub(req)
		pubs <- p
		return p, nil
	}}
	var mu sync.Mutex
	var pub *fakePub
	play := fakePlayback{play: func(context.Context, ports.PlayRequest) (*media.Stream, error) {
		mu.Lock()
		defer mu.Unlock()
		if pub == nil {
			return nil, ports.ErrStreamNotFound
		}
		pub.mu.Lock()
		defer pub.mu.Unlock()
		if pub.st == nil {
			return nil, ports.ErrStreamNotFound
		}
		return pub.st, nil
	}}
	s, err := New(Config{Logger: testLogger()}, ingest, play)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mux := http.NewServeMux()
	s.Register(mux)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, browserPage) })
	mux.HandleFunc("GET /sdk.js", func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, sdk) })
	events := make(chan [2]string, 64)
	mux.HandleFunc("POST /report", func(w http.ResponseWriter, r *http.Request) {
		var ev struct{ Ev, Data string }
		_ = json.NewDecoder(r.Body).Decode(&ev)
		events <- [2]string{ev.Ev, ev.Data}
	})
	hs := httptest.NewServer(mux)
	defer hs.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+t.TempDir(), "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
		"--disable-features=WebRtcHideLocalIpsWithMdns", "--autoplay-policy=no-user-gesture-required",
		"--remote-debugging-port=0", "--enable-logging=stderr", hs.URL+"/")
	if os.Getenv("COLONY_TEST_LOG") != "" {
		cmd.Stderr = os.Stderr
	}
	// Kill Chromium's whole process group: its helpers would otherwise
	// outlive it and keep writing to the profile that TempDir removes.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = cmd.Wait() }()

	var tracks []media.Track
	for {
		select {
		case ev := <-events:
			t.Logf("browser: %s %s", ev[0], ev[1])
			if strings.Contains(ev[0], "err:") {
				t.Fatalf("browser error %s %s", ev[0], ev[1])
			}
			if ev[0] == "remoteVideo" {
				if !strings.HasPrefix(ev[1], "640x480") || strings.HasSuffix(ev[1], "t=0") {
					t.Fatalf("the player shows %s", ev[1])
				}
				if len(tracks) == 0 || tracks[0].Codec != media.H264 {
					t.Fatalf("published tracks %+v, want H.264 first", tracks)
				}
				return
			}
		case p := <-pubs:
			mu.Lock()
			pub = p
			mu.Unlock()
			go func() {
				select {
				case ts := <-p.started:
					t.Logf("stream started: %+v", ts)
					mu.Lock()
					tracks = ts
					mu.Unlock()
				case <-ctx.Done():
				}
			}()
		case <-ctx.Done():
			t.Fatal("timed out")
		}
	}
}
