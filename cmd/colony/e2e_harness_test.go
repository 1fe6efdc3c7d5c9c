//go:build e2e

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/colony-live/colony/internal/syncbuf"
)

// The end-to-end suite runs real colony processes (COLONY_BIN), real ffmpeg
// publishers and real players (ffprobe, gohlslib's client) on loopback.

func colonyBin(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("COLONY_BIN"); p != "" {
		return p
	}
	p := filepath.Join(t.TempDir(), "colony")
	out, err := exec.Command("go", "build", "-o", p, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("build colony: %v\n%s", err, out)
	}
	return p
}

func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

func clipPath(t *testing.T) string { return filepath.Join(repoRoot(t), "testdata", "clip-720p30.mp4") }

// freePort returns a TCP port free on host now.
func freePort(t *testing.T, host string) int {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// freeUDPPort returns a UDP port free on every address now.
func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// colonyNode is a running colony process.
type colonyNode struct {
	t        *testing.T
	name     string
	host     string
	HTTP     string // http://host:port
	RTMP     string // rtmp://host:port
	RelayAdr string
	dataDir  string
	args     []string
	cmd      *exec.Cmd
	log      *syncbuf.Buffer
	exited   chan struct{}
	exitErr  error
}

type nodeOpts struct {
	host    string // default 127.0.0.1
	dataDir string // default a temp dir
	config  string // YAML written to a config file, if set
	args    []string
}

func startNode(t *testing.T, name string, o nodeOpts) *colonyNode {
	t.Helper()
	if o.host == "" {
		o.host = "127.0.0.1"
	}
	if o.dataDir == "" {
		o.dataDir = t.TempDir()
	}
	n := &colonyNode{t: t, name: name, host: o.host, dataDir: o.dataDir}
	cfgPath := filepath.Join(o.dataDir, "colony.yaml")
	if o.config != "" {
		if err := os.WriteFile(cfgPath, []byte(o.config), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// A port found free can be taken by another process before the node
	// binds it (an outgoing connection's source port, say): a node that
	// exits on "address already in use" is started again on new ports.
	for attempt := 1; ; attempt++ {
		httpPort, rtmpPort, relayPort := freePort(t, o.host), freePort(t, o.host), freePort(t, o.host)
		n.HTTP = fmt.Sprintf("http://%s:%d", o.host, httpPort)
		n.RTMP = fmt.Sprintf("rtmp://%s:%d", o.host, rtmpPort)
		n.RelayAdr = fmt.Sprintf("%s:%d", o.host, relayPort)
		n.args = append([]string{"run", "--config", cfgPath, "--data-dir", o.dataDir,
			"--http-addr", fmt.Sprintf("%s:%d", o.host, httpPort),
			"--rtmp-addr", fmt.Sprintf("%s:%d", o.host, rtmpPort),
			"--relay-addr", n.RelayAdr,
			"--advertise-addr", o.host, "--log-level", "debug",
			// WebRTC on one UDP port (the default), its own: nodes share the host.
			"--udp-mux-port", strconv.Itoa(freeUDPPort(t))}, o.args...)
		err := n.launch()
		if err == nil {
			break
		}
		if attempt < 3 && strings.Contains(n.log.String(), "address already in use") {
			t.Logf("%s: a port was taken before the node bound it; starting again on new ports: %v", name, err)
			continue
		}
		t.Fatalf("%v\n%s", err, n.log.String())
	}
	t.Cleanup(func() {
		n.stop()
		if t.Failed() {
			t.Logf("---- %s log ----\n%s", n.name, n.log.String())
		}
	})
	return n
}

// start runs the node with its arguments and waits until it is live.
func (n *colonyNode) start() {
	n.t.Helper()
	if err := n.launch(); err != nil {
		n.t.Fatalf("%v\n%s", err, n.log.String())
	}
}

// launch starts the process and waits until it is live; it returns an
// error if the process exits first or is not live within 15s.
func (n *colonyNode) launch() error {
	n.t.Helper()
	n.log = &syncbuf.Buffer{}
	n.cmd = exec.Command(colonyBin(n.t), n.args...)
	n.cmd.Stdout, n.cmd.Stderr = n.log, n.log
	n.exited = make(chan struct{})
	if err := n.cmd.Start(); err != nil {
		return fmt.Errorf("%s: %w", n.name, err)
	}
	go func() {
		n.exitErr = n.cmd.Wait()
		close(n.exited)
	}()
	deadline := time.Now().Add(15 * time.Second)
	client := &http.Client{Timeout: time.Second}
	for {
		resp, err := client.Get(n.HTTP + "/rest/v2/liveness")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		select {
		case <-n.exited:
			return fmt.Errorf("%s exited at start: %w", n.name, n.exitErr)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = n.cmd.Process.Kill()
			<-n.exited
			return fmt.Errorf("%s not live after 15s", n.name)
		}
	}
}

// stop sends SIGTERM and waits; it returns the exit error and how long the shutdown took.
func (n *colonyNode) stop() (error, time.Duration) {
	if n.cmd == nil || n.cmd.Process == nil {
		return nil, 0
	}
	select {
	case <-n.exited:
		return n.exitErr, 0
	default:
	}
	start := time.Now()
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.exited:
	case <-time.After(20 * time.Second):
		_ = n.cmd.Process.Kill()
		<-n.exited
		n.t.Errorf("%s did not stop within 20s of SIGTERM", n.name)
	}
	return n.exitErr, time.Since(start)
}

// kill sends SIGKILL and waits.
func (n *colonyNode) kill() {
	_ = n.cmd.Process.Kill()
	<-n.exited
}

func (n *colonyNode) restart() {
	n.stop()
	n.start()
}

// getJSON fetches url into v and returns the response.
func getJSON(t *testing.T, url string, v any) *http.Response {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("GET %s: %d %q: %v", url, resp.StatusCode, b, err)
		}
	}
	return resp
}

// publisher is a running ffmpeg RTMP publisher.
type publisher struct {
	cmd    *exec.Cmd
	log    *syncbuf.Buffer
	exited chan struct{}
	err    error
}

// publish starts ffmpeg sending the test clip in real time, looped, to url.
func publish(t *testing.T, url string, extra ...string) *publisher {
	t.Helper()
	args := append([]string{"-hide_banner", "-loglevel", "warning", "-re", "-stream_loop", "-1", "-i", clipPath(t), "-c", "copy"}, extra...)
	args = append(args, "-f", "flv", url)
	p := &publisher{log: &syncbuf.Buffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command("ffmpeg", args...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(p.stop)
	return p
}

func (p *publisher) stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

func (p *publisher) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// eventually polls f until it returns nil or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = f(); err == nil {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s: not true after %v: %v", what, timeout, err)
}

// broadcastStatus returns the status of app/id from the REST API ("" if unknown).
func broadcastStatus(t *testing.T, n *colonyNode, app, id string) string {
	t.Helper()
	var b struct {
		Status string `json:"status"`
	}
	resp, err := http.Get(n.HTTP + "/" + app + "/rest/v2/broadcasts/" + id)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return ""
	}
	_ = json.NewDecoder(resp.Body).Decode(&b)
	return b.Status
}

func waitStatus(t *testing.T, n *colonyNode, app, id, want string, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, fmt.Sprintf("%s/%s %s on %s", app, id, want, n.name), func() error {
		if got := broadcastStatus(t, n, app, id); got != want {
			return fmt.Errorf("status %q", got)
		}
		return nil
	})
}

// ffprobeStreams returns "codec WxH" for each stream ffprobe finds at url.
func ffprobeStreams(t *testing.T, url string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-show_entries", "stream=codec_name,width,height",
		"-of", "json", url).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", url, err)
	}
	var res struct {
		Streams []struct {
			Codec  string `json:"codec_name"`
			Width  int    `json:"width"`
			Height int    `json:"height"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatal(err)
	}
	var s []string
	seen := map[string]bool{}
	for _, st := range res.Streams {
		d := st.Codec
		if st.Width > 0 {
			d = fmt.Sprintf("%s %dx%d", st.Codec, st.Width, st.Height)
		}
		if !seen[d] {
			seen[d] = true
			s = append(s, d)
		}
	}
	return s
}

// ffprobeTimestamps reads dur of url and returns the video packets' DTS (seconds).
func ffprobeVideoDTS(t *testing.T, url string, dur time.Duration) []float64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), dur+30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-select_streams", "v:0", "-read_intervals",
		fmt.Sprintf("%%+%d", int(dur.Seconds())), "-show_entries", "packet=dts_time", "-of", "csv=p=0", url).Output()
	if err != nil {
		t.Fatalf("ffprobe packets %s: %v", url, err)
	}
	var ts []float64
	for _, l := range strings.Fields(string(out)) {
		var f float64
		if _, err := fmt.Sscanf(strings.TrimSuffix(l, ","), "%g", &f); err == nil {
			ts = append(ts, f)
		}
	}
	return ts
}

// assertContinuous checks that timestamps increase with no gap over maxGap.
func assertContinuous(t *testing.T, what string, ts []float64, minCount int, maxGap float64) {
	t.Helper()
	if len(ts) < minCount {
		t.Fatalf("%s: %d timestamps, want at least %d", what, len(ts), minCount)
	}
	for i := 1; i < len(ts); i++ {
		d := ts[i] - ts[i-1]
		if d <= 0 || d > maxGap {
			t.Fatalf("%s: timestamp %d jumps from %.3f to %.3f", what, i, ts[i-1], ts[i])
		}
	}
}
