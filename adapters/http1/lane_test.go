package http1

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testServer is a Lane over a loopback listener with net/http behind it.
// Requests under /lane/ are the Lane's; every handler says who answered in
// X-By ("lane" or "net/http").
type testServer struct {
	addr   string
	lane   *Lane
	stop   func()
	served chan error
}

func newTestServer(t *testing.T, cfg Config, laneHandler http.Handler) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Takes == nil {
		cfg.Takes = func(method, target string) bool {
			return (method == "GET" || method == "HEAD") && strings.HasPrefix(target, "/lane/")
		}
	}
	if laneHandler == nil {
		laneHandler = echo("lane")
	}
	cfg.Handler = laneHandler
	lane, err := New(ln, cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: echo("net/http")}
	ctx, cancel := context.WithCancel(context.Background())
	ts := &testServer{addr: ln.Addr().String(), lane: lane, served: make(chan error, 1)}
	httpDone := make(chan struct{})
	go func() {
		defer close(httpDone)
		_ = srv.Serve(lane.Listener())
	}()
	go func() { ts.served <- lane.Serve(ctx) }()
	stopped := false
	ts.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-ts.served; err != nil {
			t.Errorf("Serve: %v", err)
		}
		sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
		defer c()
		_ = srv.Shutdown(sctx)
		<-httpDone
	}
	t.Cleanup(ts.stop)
	return ts
}

// echo answers with who it is and what was asked, with a Content-Length.
func echo(who string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		msg := fmt.Sprintf("%s %s %s body=%d", who, r.Method, r.URL.RequestURI(), len(body))
		w.Header()["X-By"] = []string{who}
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", fmt.Sprint(len(msg)))
		_, _ = io.WriteString(w, msg)
	})
}

func (ts *testServer) dial(t *testing.T) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return c, bufio.NewReader(c)
}

type answer struct {
	status int
	by     string // X-By
	body   string
	close  bool // the response says Connection: close
}

func readAnswer(t *testing.T, br *bufio.Reader, method string) answer {
	t.Helper()
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the body: %v", err)
	}
	if resp.Header.Get("Date") == "" {
		t.Errorf("response without Date")
	}
	return answer{status: resp.StatusCode, by: resp.Header.Get("X-By"), body: string(b), close: resp.Close}
}

// TestLaneTakesAndHandsOver sends sequences of requests on one connection
// and checks who answered each: the Lane until the first request it does
// not take, net/http from then on.
func TestLaneTakesAndHandsOver(t *testing.T) {
	ts := newTestServer(t, Config{}, nil)
	get := func(path string) string { return "GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n" }
	bigHeader := "GET /lane/big HTTP/1.1\r\nHost: x\r\nCookie: " + strings.Repeat("a", 5000) + "\r\n\r\n"
	tests := []struct {
		name   string
		send   []string // written one after the other, each after the previous answer
		method []string // of each request, for reading its response (default GET)
		want   []answer
	}{
		{"lane keeps the connection", []string{get("/lane/a"), get("/lane/b?x=1")}, nil, []answer{
			{200, "lane", "lane GET /lane/a body=0", false},
			{200, "lane", "lane GET /lane/b?x=1 body=0", false},
		}},
		{"HEAD has no body", []string{"HEAD /lane/a HTTP/1.1\r\nHost: x\r\n\r\n", get("/lane/b")}, []string{"HEAD", "GET"}, []answer{
			{200, "lane", "", false},
			{200, "lane", "lane GET /lane/b body=0", false},
		}},
		{"other requests go to net/http", []string{get("/other")}, nil, []answer{
			{200, "net/http", "net/http GET /other body=0", false},
		}},
		{"handed over mid-connection, body intact", []string{
			get("/lane/a"),
			"POST /other HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
			get("/lane/c"),
		}, nil, []answer{
			{200, "lane", "lane GET /lane/a body=0", false},
			{200, "net/http", "net/http POST /other body=5", false},
			{200, "net/http", "net/http GET /lane/c body=0", false},
		}},
		{"pipelined", []string{get("/lane/a") + get("/lane/b") + get("/other")}, []string{"GET", "GET", "GET"}, []answer{
			{200, "lane", "lane GET /lane/a body=0", false},
			{200, "lane", "lane GET /lane/b body=0", false},
			{200, "net/http", "net/http GET /other body=0", false},
		}},
		{"bare LF line ends", []string{"GET /lane/lf HTTP/1.1\nHost: x\n\n"}, nil, []answer{
			{200, "lane", "lane GET /lane/lf body=0", false},
		}},
		{"HTTP/1.0 goes to net/http", []string{"GET /lane/a HTTP/1.0\r\nHost: x\r\n\r\n"}, nil, []answer{
			{200, "net/http", "net/http GET /lane/a body=0", true},
		}},
		{"a head larger than the buffer goes to net/http", []string{bigHeader}, nil, []answer{
			{200, "net/http", "net/http GET /lane/big body=0", false},
		}},
		{"a GET's body is dropped and the connection kept", []string{
			"GET /lane/a HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nabcd", get("/lane/b"),
		}, nil, []answer{
			{200, "lane", "lane GET /lane/a body=0", false},
			{200, "lane", "lane GET /lane/b body=0", false},
		}},
		{"Connection: close", []string{"GET /lane/a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"}, nil, []answer{
			{200, "lane", "lane GET /lane/a body=0", true},
		}},
		{"no Host", []string{"GET /lane/a HTTP/1.1\r\n\r\n"}, nil, []answer{
			{400, "", "missing or malformed Host header\n", true},
		}},
		{"malformed header line", []string{"GET /lane/a HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n"}, nil, []answer{
			{400, "", "malformed request\n", true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, br := ts.dial(t)
			i := 0
			for _, s := range tt.send {
				if _, err := io.WriteString(c, s); err != nil {
					t.Fatal(err)
				}
				for n := strings.Count(s, "HTTP/1."); n > 0; n-- {
					method := "GET"
					if i < len(tt.method) {
						method = tt.method[i]
					}
					got := readAnswer(t, br, method)
					if got != tt.want[i] {
						t.Errorf("answer %d = %+v, want %+v", i, got, tt.want[i])
					}
					i++
				}
			}
			if i != len(tt.want) {
				t.Fatalf("read %d answers, want %d", i, len(tt.want))
			}
			if tt.want[i-1].close {
				if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
					t.Errorf("connection still open after Connection: close (%v)", err)
				}
			}
		})
	}
}

// TestLaneResponses checks the response writer against what net/http's
// would send for the same handler.
func TestLaneResponses(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "segment")
	payload := bytes.Repeat([]byte("0123456789abcdef"), 20000) // 320 KB
	if err := os.WriteFile(file, payload, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		h      http.HandlerFunc
		status int
		body   string
		ctype  string
	}{
		{"unknown length: gathered, length and type set", func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, "<html><body>")
			_, _ = io.WriteString(w, "hi</body></html>")
		}, 200, "<html><body>hi</body></html>", "text/html; charset=utf-8"},
		{"status only", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusNotFound)
		}, 404, "", ""},
		{"http.Error", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "nope", http.StatusServiceUnavailable)
		}, 503, "nope\n", "text/plain; charset=utf-8"},
		{"large body with a length: one write", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "320000")
			w.Header().Set("Content-Type", "video/mp4")
			_, _ = w.Write(payload)
		}, 200, string(payload), "video/mp4"},
		{"many small writes", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "320000")
			for i := 0; i < len(payload); i += 1000 {
				_, _ = w.Write(payload[i : i+1000])
			}
		}, 200, string(payload), "text/plain; charset=utf-8"},
		{"a file by ReadFrom (sendfile)", func(w http.ResponseWriter, r *http.Request) {
			f, err := os.Open(file)
			if err != nil {
				t.Error(err)
				return
			}
			defer f.Close()
			if _, err := f.Seek(1000, io.SeekStart); err != nil {
				t.Error(err)
			}
			w.Header().Set("Content-Length", "100000")
			w.Header().Set("Content-Type", "video/mp4")
			_, _ = w.(io.ReaderFrom).ReadFrom(io.LimitReader(f, 100000))
		}, 200, string(payload[1000:101000]), "video/mp4"},
		{"flushed part way", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "6")
			_, _ = io.WriteString(w, "abc")
			w.(http.Flusher).Flush()
			_, _ = io.WriteString(w, "def")
		}, 200, "abcdef", "text/plain; charset=utf-8"},
		{"body past its length refused", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "3")
			if _, err := io.WriteString(w, "abcd"); !errors.Is(err, http.ErrContentLength) {
				t.Errorf("write past the length: %v, want ErrContentLength", err)
			}
			_, _ = io.WriteString(w, "abc")
		}, 200, "abc", "text/plain; charset=utf-8"},
		{"a header value cannot end the header", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Evil", "a\r\nSet-Cookie: x=1")
			w.Header().Set("Content-Length", "2")
			_, _ = io.WriteString(w, "ok")
		}, 200, "ok", "text/plain; charset=utf-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t, Config{}, tt.h)
			c, br := ts.dial(t)
			for i := 0; i < 2; i++ { // twice on one connection: the writer is reused
				if _, err := io.WriteString(c, "GET /lane/x HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
					t.Fatal(err)
				}
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatal(err)
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil {
					t.Fatal(err)
				}
				if resp.StatusCode != tt.status || string(b) != tt.body || resp.Header.Get("Content-Type") != tt.ctype {
					t.Errorf("got %d %q (%d bytes), %q; want %d %q (%d bytes), %q", resp.StatusCode, trim(b), len(b),
						resp.Header.Get("Content-Type"), tt.status, trim([]byte(tt.body)), len(tt.body), tt.ctype)
				}
				if resp.ContentLength != int64(len(tt.body)) {
					t.Errorf("Content-Length %d, want %d", resp.ContentLength, len(tt.body))
				}
				if resp.Header.Get("Set-Cookie") != "" {
					t.Errorf("a header value's line break started a header: %v", resp.Header)
				}
			}
		})
	}
}

func trim(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "..."
	}
	return string(b)
}

// TestLaneShortBody: a handler that writes less than its Content-Length
// leaves the client waiting for bytes that will not come; the Lane closes
// the connection, as net/http does.
func TestLaneShortBody(t *testing.T) {
	ts := newTestServer(t, Config{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10")
		_, _ = io.WriteString(w, "short")
	}))
	c, br := ts.dial(t)
	_, _ = io.WriteString(c, "GET /lane/x HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	if string(b) != "short" || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("body %q, %v; want \"short\" and the connection closed (unexpected EOF)", b, err)
	}
}

// TestLaneTimeouts: the sweeper closes a connection idle past IdleTimeout,
// one whose head trickles in past HeaderTimeout, and one whose response
// has taken longer than WriteTimeout (a viewer that stopped reading; here
// a handler that does not finish).
func TestLaneTimeouts(t *testing.T) {
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/lane/stuck" {
			<-release
			return
		}
		echo("lane").ServeHTTP(w, r)
	})
	ts := newTestServer(t, Config{IdleTimeout: 500 * time.Millisecond, HeaderTimeout: 500 * time.Millisecond,
		WriteTimeout: 500 * time.Millisecond}, h)
	t.Cleanup(func() { close(release) }) // runs before the server stops
	idle, idleBR := ts.dial(t)
	_, _ = io.WriteString(idle, "GET /lane/a HTTP/1.1\r\nHost: x\r\n\r\n")
	if a := readAnswer(t, idleBR, "GET"); a.by != "lane" {
		t.Fatalf("answered by %q", a.by)
	}
	slow, slowBR := ts.dial(t)
	_, _ = io.WriteString(slow, "GET /lane/a HTTP/1.1\r\nHo")
	stuck, stuckBR := ts.dial(t)
	_, _ = io.WriteString(stuck, "GET /lane/stuck HTTP/1.1\r\nHost: x\r\n\r\n")
	start := time.Now()
	for name, br := range map[string]*bufio.Reader{"idle": idleBR, "slow head": slowBR, "stuck response": stuckBR} {
		if _, err := br.ReadByte(); !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !isReset(err) {
			t.Errorf("%s connection: read %v, want it closed", name, err)
		}
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("closed after %v", d)
	}
}

func isReset(err error) bool { return err != nil && strings.Contains(err.Error(), "reset") }

// TestLaneDrain: once Serve's context ends, idle connections close at once,
// a response under way completes (and its connection then closes), and a
// handler still waiting when DrainTimeout passes sees its context end.
func TestLaneDrain(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan string, 2)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- r.URL.Path
		if r.URL.Path == "/lane/stuck" {
			<-r.Context().Done()
			return
		}
		<-release
		w.Header().Set("Content-Length", "4")
		_, _ = io.WriteString(w, "done")
	})
	ts := newTestServer(t, Config{DrainTimeout: 700 * time.Millisecond}, h)
	_, idleBR := ts.dial(t)
	busy, busyBR := ts.dial(t)
	stuck, stuckBR := ts.dial(t)
	_, _ = io.WriteString(busy, "GET /lane/busy HTTP/1.1\r\nHost: x\r\n\r\n")
	_, _ = io.WriteString(stuck, "GET /lane/stuck HTTP/1.1\r\nHost: x\r\n\r\n")
	<-entered
	<-entered
	stopped := make(chan struct{})
	go func() {
		ts.stop()
		close(stopped)
	}()
	if _, err := idleBR.ReadByte(); err == nil {
		t.Error("idle connection not closed by the drain")
	}
	close(release)
	resp, err := http.ReadResponse(busyBR, nil)
	if err != nil {
		t.Fatalf("the response under way was lost: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	if string(b) != "done" || !resp.Close {
		t.Errorf("busy: body %q close %v; want \"done\" with Connection: close", b, resp.Close)
	}
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after the drain timeout")
	}
	if _, err := io.ReadAll(stuckBR); err != nil && !isReset(err) {
		t.Errorf("stuck connection still open after the drain: %v", err)
	}
	// New connections are refused once the listener is closed.
	if c, err := net.DialTimeout("tcp", ts.addr, time.Second); err == nil {
		c.Close()
		t.Error("the listener still accepts after Serve returned")
	}
}

// TestLanePanic: a handler's panic closes its connection only.
func TestLanePanic(t *testing.T) {
	ts := newTestServer(t, Config{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/lane/panic" {
			panic("boom")
		}
		echo("lane").ServeHTTP(w, r)
	}))
	c, br := ts.dial(t)
	_, _ = io.WriteString(c, "GET /lane/panic HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, err := br.ReadByte(); err == nil {
		t.Error("connection of the panicking request still open")
	}
	c2, br2 := ts.dial(t)
	_, _ = io.WriteString(c2, "GET /lane/ok HTTP/1.1\r\nHost: x\r\n\r\n")
	if a := readAnswer(t, br2, "GET"); a.by != "lane" || a.status != 200 {
		t.Errorf("after a panic: %+v", a)
	}
	if s := ts.lane.Stats(); s.Requests != 2 {
		t.Errorf("Stats.Requests = %d, want 2", s.Requests)
	}
}

func TestHeadEnd(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27},
		{"GET / HTTP/1.1\nHost: x\n\n", 24},
		{"GET / HTTP/1.1\r\nHost: x\r\n", 0},
		{"GET / HTTP/1.1\r\nHost: x\r\n\r", 0},
		{"\r\n\r\n", 4},
		{"", 0},
		{"GET / HTTP/1.1\r\n\r\nbody", 18},
	}
	for _, tt := range tests {
		if got := headEnd([]byte(tt.in)); got != tt.want {
			t.Errorf("headEnd(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}
