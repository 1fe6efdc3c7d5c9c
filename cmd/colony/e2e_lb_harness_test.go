//go:build e2e

package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/colony-live/colony/adapters/certfile/certfiletest"
	"github.com/colony-live/colony/internal/syncbuf"
)

// balancerProc is a running nginx or HAProxy with its own prefix.
type balancerProc struct {
	kind, prefix, conf string
	HTTP, RTMP         string            // http://127.0.0.1:port, rtmp://127.0.0.1:port
	HTTPS              string            // https://127.0.0.1:port
	cert               *x509.Certificate // what HTTPS serves
	flags              []string
	cmd                *exec.Cmd
	log                *syncbuf.Buffer
	exited             chan struct{}
}

func lbBinary(t *testing.T, kind string) string {
	t.Helper()
	for _, p := range []string{kind, "/usr/sbin/" + kind} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	t.Fatalf("%s is not installed: run make test-deps (scripts/install-test-deps.sh)", kind)
	return ""
}

// newBalancer picks ports and a prefix for kind in front of the cluster
// whose config file is cfgPath; it renders and starts nothing yet.
func newBalancer(t *testing.T, kind, cfgPath string) *balancerProc {
	t.Helper()
	lbBinary(t, kind)
	// nginx's workers run as nobody: the prefix must be reachable by them.
	prefix, err := os.MkdirTemp("", "colony-lb-"+kind+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(prefix) })
	if err := os.Chmod(prefix, 0o755); err != nil {
		t.Fatal(err)
	}
	httpPort, rtmpPort, httpsPort := freePort(t, "127.0.0.1"), freePort(t, "127.0.0.1"), freePort(t, "127.0.0.1")
	b := &balancerProc{kind: kind, prefix: prefix, conf: filepath.Join(prefix, map[string]string{"nginx": "nginx.conf", "haproxy": "haproxy.cfg"}[kind]),
		HTTP: fmt.Sprintf("http://127.0.0.1:%d", httpPort), RTMP: fmt.Sprintf("rtmp://127.0.0.1:%d", rtmpPort),
		HTTPS: fmt.Sprintf("https://127.0.0.1:%d", httpsPort)}
	b.flags = []string{"--kind", kind, "--config", cfgPath, "--prefix", prefix,
		"--http-listen", fmt.Sprintf("127.0.0.1:%d", httpPort), "--rtmp-listen", fmt.Sprintf("127.0.0.1:%d", rtmpPort),
		"--https-listen", fmt.Sprintf("127.0.0.1:%d", httpsPort)}
	// TLS as each balancer reads it: nginx two files, HAProxy one.
	p := certfiletest.New(t, 1, time.Now().Add(24*time.Hour))
	b.cert = p.X509
	if kind == "haproxy" {
		bundle := filepath.Join(prefix, "colony.pem")
		certfiletest.WriteFile(t, bundle, append(append([]byte{}, p.Cert...), p.Key...), time.Now())
		b.flags = append(b.flags, "--tls-cert", bundle)
	} else {
		certFile, keyFile := p.Write(t, prefix, time.Now())
		b.flags = append(b.flags, "--tls-cert", certFile, "--tls-key", keyFile)
	}
	return b
}

// colonyCmd runs the colony binary and returns its stdout, stderr and error.
func colonyCmd(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, colonyBin(t), args...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// render runs `colony lb render` into the balancer's config file.
func (b *balancerProc) render(t *testing.T) string {
	t.Helper()
	out, errOut, err := colonyCmd(t, append([]string{"lb", "render"}, b.flags...)...)
	if err != nil {
		t.Fatalf("colony lb render: %v\n%s", err, errOut)
	}
	if err := os.WriteFile(b.conf, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// start runs the balancer in the foreground and waits until it proxies.
func (b *balancerProc) start(t *testing.T) {
	t.Helper()
	args := []string{"-f", b.conf} // HAProxy: the config asks for master-worker mode
	if b.kind == "nginx" {
		args = []string{"-p", b.prefix, "-c", b.conf, "-e", filepath.Join(b.prefix, "error.log"), "-g", "daemon off;"}
	}
	b.log, b.exited = &syncbuf.Buffer{}, make(chan struct{})
	b.cmd = exec.Command(lbBinary(t, b.kind), args...)
	b.cmd.Stdout, b.cmd.Stderr = b.log, b.log
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = b.cmd.Wait(); close(b.exited) }()
	t.Cleanup(func() {
		_ = b.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-b.exited:
		case <-time.After(10 * time.Second):
			_ = b.cmd.Process.Kill()
			<-b.exited
			t.Errorf("%s did not stop within 10s of SIGTERM", b.kind)
		}
		if t.Failed() {
			errLog, _ := os.ReadFile(filepath.Join(b.prefix, "error.log"))
			t.Logf("---- %s output ----\n%s\n%s", b.kind, b.log.String(), errLog)
		}
	})
	eventually(t, 10*time.Second, b.kind+" proxies the REST API", func() error {
		select {
		case <-b.exited:
			t.Fatalf("%s exited at start:\n%s", b.kind, b.log.String())
		default:
		}
		code, _, _, err := newLBClient().get(b.HTTP + "/rest/v2/liveness")
		if err != nil {
			return err
		}
		if code != 200 {
			return fmt.Errorf("liveness through %s: %d", b.kind, code)
		}
		return nil
	})
}

// lbClient is one viewer: its own cookie jar (as a browser or ffmpeg
// keeps the balancer's sticky cookie) and a record of who served it.
type lbClient struct {
	http *http.Client
	mu   sync.Mutex
	by   []string
}

func newLBClient() *lbClient {
	jar, _ := cookiejar.New(nil)
	c := &lbClient{}
	c.http = &http.Client{Jar: jar, Timeout: 15 * time.Second, Transport: servedByRecorder{c, &http.Transport{}}}
	return c
}

type servedByRecorder struct {
	c    *lbClient
	next http.RoundTripper
}

func (r servedByRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.next.RoundTrip(req)
	if err == nil {
		r.c.mu.Lock()
		r.c.by = append(r.c.by, resp.Header.Get("X-Served-By"))
		r.c.mu.Unlock()
	}
	return resp, err
}

// servedBy lists the distinct nodes that answered this client.
func (c *lbClient) servedBy() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return distinct(c.by)
}

func distinct(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

func (c *lbClient) get(url string) (int, string, []byte, error) {
	resp, err := c.http.Get(url)
	if err != nil {
		return 0, "", nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("X-Served-By"), body, err
}

// playHLSFor plays like a simple player for dur: the playlist, the media
// playlist, and every new segment it lists. It returns the segments fetched.
func (c *lbClient) playHLSFor(url string, dur time.Duration) (int, error) {
	base := url[:strings.LastIndex(url, "/")+1]
	fetch := func(u string) (string, error) {
		code, by, body, err := c.get(u)
		if err != nil {
			return "", err
		}
		if code != 200 {
			return "", fmt.Errorf("GET %s: %d from %q: %s", u, code, by, body)
		}
		return string(body), nil
	}
	main, err := fetch(url)
	if err != nil {
		return 0, err
	}
	var media string
	for _, l := range strings.Split(main, "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			media = base + strings.TrimSpace(l)
			break
		}
	}
	if media == "" {
		return 0, fmt.Errorf("no media playlist in %q", main)
	}
	seen := map[string]bool{}
	segments := 0
	for end := time.Now().Add(dur); time.Now().Before(end); time.Sleep(300 * time.Millisecond) {
		pl, err := fetch(media)
		if err != nil {
			return segments, err
		}
		gap := false
		for _, l := range strings.Split(pl, "\n") {
			if strings.HasPrefix(l, "#EXT-X-GAP") {
				gap = true
			}
			if l == "" || strings.HasPrefix(l, "#") {
				continue
			}
			if gap || seen[l] {
				gap = false
				continue
			}
			seen[l] = true
			if _, err := fetch(base + l); err != nil {
				return segments, err
			}
			segments++
		}
	}
	if segments == 0 {
		return 0, fmt.Errorf("%s: no segment fetched", url)
	}
	return segments, nil
}

// freshViewers asks n new viewers (no cookie) for the playlist and returns
// who served each.
func freshViewers(url string, n int) ([]string, error) {
	var by []string
	for i := 0; i < n; i++ {
		code, who, body, err := newLBClient().get(url)
		if err != nil {
			return by, err
		}
		if code != 200 {
			return by, fmt.Errorf("playlist: %d from %q: %s", code, who, body)
		}
		by = append(by, who)
	}
	return by, nil
}

// startLBWatch runs `colony lb watch` for b (polling every 500 ms) until
// the test ends, and returns its log.
func startLBWatch(t *testing.T, b *balancerProc) *syncbuf.Buffer {
	t.Helper()
	log := &syncbuf.Buffer{}
	cmd := exec.Command(colonyBin(t), append(append([]string{"lb", "watch"}, b.flags...), "--out", b.conf, "--every", "500ms")...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			t.Error("colony lb watch did not stop within 10s of SIGTERM")
		}
		if t.Failed() {
			t.Logf("---- lb watch log ----\n%s", log.String())
		}
	})
	return log
}

// checkHTTPS plays path through the balancer's HTTPS listener: HTTP/2,
// served by an edge, and ffprobe finds the media.
func (b *balancerProc) checkHTTPS(t *testing.T, path string) {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(b.cert)
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	defer c.CloseIdleConnections()
	resp, err := c.Get(b.HTTPS + path)
	if err != nil {
		t.Fatalf("%s over HTTPS: %v", b.kind, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Proto != "HTTP/2.0" || !strings.HasPrefix(resp.Header.Get("X-Served-By"), "edge") ||
		!strings.HasPrefix(string(body), "#EXTM3U") {
		t.Fatalf("%s over HTTPS: %s over %s from %q:\n%s", b.kind, resp.Status, resp.Proto, resp.Header.Get("X-Served-By"), body)
	}
	if got := strings.Join(ffprobeStreams(t, b.HTTPS+path), ","); !strings.Contains(got, "h264 1280x720") {
		t.Fatalf("ffprobe through %s over HTTPS found %q", b.kind, got)
	}
}
