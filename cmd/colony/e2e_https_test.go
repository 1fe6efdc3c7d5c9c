//go:build e2e

package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coder/websocket"
	"github.com/colony-live/colony/adapters/certfile/certfiletest"
)

// testCert writes a self-signed certificate for 127.0.0.1 (serial) and
// its key to dir's cert.pem and key.pem, modified at mod, and returns it.
func testCert(t *testing.T, dir string, serial int64, mod time.Time) *x509.Certificate {
	t.Helper()
	p := certfiletest.New(t, serial, time.Now().Add(24*time.Hour))
	p.Write(t, dir, mod)
	return p.X509
}

// TestStandaloneHTTPS serves over HTTPS (Ant Media's 5443) what the HTTP
// port serves: ffprobe plays the HLS stream, a Go client gets the
// playlist over HTTP/2 and REST answers, the WebSocket signalling
// answers over wss (HTTP/1.1), and a renewed certificate is served
// without a restart.
func TestStandaloneHTTPS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	first := testCert(t, dir, 1, time.Now().Add(-time.Hour))
	httpsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	n := startNode(t, "standalone-https", nodeOpts{args: []string{"--https-addr", httpsAddr, "--tls-cert", certFile, "--tls-key", keyFile}})
	base := "https://" + httpsAddr

	publish(t, n.RTMP+"/LiveApp/tls1")
	waitStatus(t, n, "LiveApp", "tls1", "broadcasting", 15*time.Second)
	got := strings.Join(ffprobeStreams(t, base+"/LiveApp/streams/tls1.m3u8"), ",")
	if !strings.Contains(got, "h264 1280x720") || !strings.Contains(got, "aac") {
		t.Fatalf("ffprobe over HTTPS found %q", got)
	}

	client := func(trust *x509.Certificate) *http.Client {
		pool := x509.NewCertPool()
		pool.AddCert(trust)
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true, DisableKeepAlives: true,
		}}
	}
	c := client(first)
	for _, path := range []string{"/LiveApp/streams/tls1.m3u8", "/rest/v2/liveness", "/metrics"} {
		resp, err := c.Get(base + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Proto != "HTTP/2.0" {
			t.Fatalf("GET %s: %s over %s", path, resp.Status, resp.Proto)
		}
		switch path {
		case "/LiveApp/streams/tls1.m3u8":
			if !strings.HasPrefix(string(body), "#EXTM3U") {
				t.Fatalf("playlist over HTTPS:\n%s", body)
			}
		case "/metrics":
			want := fmt.Sprintf("colony_tls_certificate_expiry_timestamp_seconds %g", float64(first.NotAfter.Unix()))
			if !strings.Contains(string(body), want) {
				t.Fatalf("no %q in the metrics", want)
			}
		}
	}

	// The Ant Media signalling over wss://, HTTP/1.1 as browsers use it.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pool := x509.NewCertPool()
	pool.AddCert(first)
	ws, _, err := websocket.Dial(ctx, "wss://"+httpsAddr+"/WebRTCAppEE/websocket", &websocket.DialOptions{
		HTTPClient: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}},
	})
	if err != nil {
		t.Fatalf("wss: %v", err)
	}
	if err := ws.Write(ctx, websocket.MessageText, []byte(`{"command":"ping"}`)); err != nil {
		t.Fatal(err)
	}
	_, msg, err := ws.Read(ctx)
	if err != nil || !strings.Contains(string(msg), `"pong"`) {
		t.Fatalf("wss ping: %s, %v", msg, err)
	}
	ws.Close(websocket.StatusNormalClosure, "")

	// A renewal is served without a restart (checked every 10 s).
	renewed := testCert(t, dir, 2, time.Now())
	eventually(t, 20*time.Second, "the renewed certificate", func() error {
		_, err := client(renewed).Get(base + "/rest/v2/liveness")
		return err
	})
	if _, err := client(first).Get(base + "/rest/v2/liveness"); err == nil {
		t.Fatal("the first certificate is still served after the renewal")
	}
	if !strings.Contains(n.log.String(), "TLS certificate reloaded") {
		t.Fatal("the reload is not logged")
	}
}

// TestHTTPSBadCertificate: a node given a key that does not match its
// certificate, or only one of the two, does not start, and says why.
func TestHTTPSBadCertificate(t *testing.T) {
	dir, other := t.TempDir(), t.TempDir()
	testCert(t, dir, 1, time.Now())
	testCert(t, other, 2, time.Now())
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"key of another": {[]string{"--tls-cert", filepath.Join(dir, "cert.pem"), "--tls-key", filepath.Join(other, "key.pem")}, "TLS certificate files"},
		"no key":         {[]string{"--tls-cert", filepath.Join(dir, "cert.pem")}, "tls needs both cert_file and key_file"},
		"missing file":   {[]string{"--tls-cert", filepath.Join(dir, "none.pem"), "--tls-key", filepath.Join(dir, "key.pem")}, "no such file"},
	} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			args := append([]string{"run", "--data-dir", t.TempDir(),
				"--http-addr", fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1")),
				"--rtmp-addr", fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1")),
				"--relay-addr", fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1")),
				"--https-addr", fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1")),
				"--udp-mux-port", fmt.Sprint(freeUDPPort(t))}, tc.args...)
			out, err := exec.CommandContext(ctx, colonyBin(t), args...).CombinedOutput()
			if ctx.Err() != nil {
				t.Fatalf("the node kept running:\n%s", out)
			}
			if err == nil || !strings.Contains(string(out), tc.want) {
				t.Fatalf("exit %v, want an error saying %q:\n%s", err, tc.want, out)
			}
		})
	}
}

// TestBrowserOverHTTPS: Chromium runs the Ant Media SDK from an HTTPS
// page against the node's HTTPS port: it publishes and plays through
// wss:// signalling, as an Ant Media deployment with SSL does. The
// certificate is the test's own, so Chromium is told to accept it.
func TestBrowserOverHTTPS(t *testing.T) {
	dir := webDir(t)
	certDir := t.TempDir()
	testCert(t, certDir, 1, time.Now())
	httpsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	n := startNode(t, "standalone-https-browser", nodeOpts{args: []string{"--https-addr", httpsAddr,
		"--tls-cert", filepath.Join(certDir, "cert.pem"), "--tls-key", filepath.Join(certDir, "key.pem")}})
	pages := httptest.NewTLSServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(pages.Close)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	browser := startChromium(t, ctx, chromedp.Flag("ignore-certificate-errors", true))
	q := url.Values{"ws": {"wss://" + httpsAddr + "/WebRTCAppEE/websocket"}, "id": {"tls1"}}.Encode()
	pub, _ := openPage(t, browser, "publisher", pages.URL+"/publish.html?"+q)
	waitState(t, pub, "publisher", "publish_started", 60*time.Second)
	waitStatus(t, n, "WebRTCAppEE", "tls1", "broadcasting", 20*time.Second)
	play, _ := openPage(t, browser, "player", pages.URL+"/play.html?"+q)
	waitState(t, play, "player", "play_started", 60*time.Second)
	eventually(t, 30*time.Second, "the player renders frames", func() error {
		if f := playerFrames(t, play); f.Total < 30 || f.Width == 0 {
			return fmt.Errorf("frames %+v", f)
		}
		return nil
	})
}
