package http1

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// BenchmarkRequest is one keep-alive GET of a 2 KB body (a playlist's
// size), answered on the Lane or by net/http's own connection loop, with
// the same handler: allocations per request and time, client included
// (the same raw client for both).
func BenchmarkRequest(b *testing.B) {
	body := bytes.Repeat([]byte("#EXT-X-PART:DURATION=0.13300\n"), 70)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd["Content-Type"] = []string{"application/vnd.apple.mpegurl"}
		hd["Content-Length"] = []string{"2030"}
		_, _ = w.Write(body)
	})
	for _, name := range []string{"lane", "net-http"} {
		b.Run(name, func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			var srv *http.Server
			done := make(chan struct{})
			if name == "lane" {
				lane, err := New(ln, Config{Takes: func(string, string) bool { return true }, Handler: h})
				if err != nil {
					b.Fatal(err)
				}
				srv = &http.Server{Handler: h}
				go func() { _ = srv.Serve(lane.Listener()) }()
				go func() { _ = lane.Serve(ctx); close(done) }()
			} else {
				srv = &http.Server{Handler: h}
				go func() { _ = srv.Serve(ln); close(done) }()
			}
			defer func() {
				cancel()
				_ = srv.Close()
				<-done
			}()
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			req := []byte("GET /LiveApp/streams/x_main_stream.m3u8?_HLS_msn=9&_HLS_part=3 HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")
			br := bufio.NewReaderSize(c, 8<<10)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := c.Write(req); err != nil {
					b.Fatal(err)
				}
				if err := readRaw(br, len(body)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// readRaw reads one response head and a body of n bytes.
func readRaw(br *bufio.Reader, n int) error {
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 {
			break
		}
		if !strings.HasPrefix(string(line), "HTTP/1.1 200") && bytes.HasPrefix(line, []byte("HTTP/")) {
			return io.ErrUnexpectedEOF
		}
	}
	_, err := br.Discard(n)
	return err
}

// TestLaneAllocs guards the Lane's allocations per request: a keep-alive
// GET of a playlist-sized body, the handler and client allocating
// nothing, so what is counted is net/http's parser (the request, its URL
// and header: 8 in a memory profile) and the Lane's own (the
// request-target string and the request's context copy): AllocsPerRun
// reports 13 here. The bound leaves one for the runtime's own; a header
// map and buffer made per request go past it (20, checked).
func TestLaneAllocs(t *testing.T) {
	// Not parallel: AllocsPerRun counts every goroutine's allocations.
	body := bytes.Repeat([]byte("#EXT-X-PART:DURATION=0.13300\n"), 70)
	ctype, clen := []string{"application/vnd.apple.mpegurl"}, []string{"2030"}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd["Content-Type"], hd["Content-Length"] = ctype, clen
		_, _ = w.Write(body)
	})
	ts := newTestServer(t, Config{}, h)
	c, _ := ts.dial(t)
	br := bufio.NewReaderSize(c, 8<<10)
	req := []byte("GET /lane/x_main_stream.m3u8?_HLS_msn=9&_HLS_part=3 HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: test\r\nAccept: */*\r\n\r\n")
	roundTrip := func() {
		if _, err := c.Write(req); err != nil {
			t.Fatal(err)
		}
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				t.Fatal(err)
			}
			if len(line) <= 2 {
				break
			}
		}
		if _, err := br.Discard(len(body)); err != nil {
			t.Fatal(err)
		}
	}
	roundTrip() // the connection's buffers
	const max = 14
	if n := testing.AllocsPerRun(200, roundTrip); n > max {
		t.Errorf("%.1f allocations per request on the Lane, want at most %d", n, max)
	}
}
