package http1

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// FuzzLaneConn sends arbitrary bytes to a Lane as a client would and checks
// that what comes back is a sequence of well-formed HTTP/1.1 responses,
// never more than the requests sent, and that the Lane neither panics nor
// hangs. Hand-overs fail here (net/http is not listening), which closes
// the connection.
func FuzzLaneConn(f *testing.F) {
	for _, s := range []string{
		"GET /lane/a HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /lane/a HTTP/1.1\r\nHost: x\r\n\r\nGET /lane/b?q=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
		"GET /lane/a HTTP/1.1\nHost: x\n\n",
		"GET /lane/a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET /lane/b HTTP/1.1\r\nHost: y\r\n\r\n",
		"GET /lane/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"GET /lane/a HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
		"GET /other HTTP/1.1\r\nHost: x\r\n\r\n",
		"\r\n\r\n",
		"GET /lane/a HTTP/1.1\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	lane, err := New(ln, Config{
		Takes:   func(method, target string) bool { return method == "GET" && strings.HasPrefix(target, "/lane/") },
		Handler: echo("lane"),
	})
	if err != nil {
		f.Fatal(err)
	}
	_ = lane.Listener().Close() // no net/http: hand-overs fail
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- lane.Serve(ctx) }()
	f.Cleanup(func() {
		cancel()
		<-served
	})
	addr := ln.Addr().String()
	f.Fuzz(func(t *testing.T, in []byte) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(in); err != nil {
			return // the Lane may close before reading it all
		}
		_ = c.(*net.TCPConn).CloseWrite()
		br := bufio.NewReader(c)
		max := strings.Count(string(in), "\n") // a request needs at least one line end
		for n := 0; ; n++ {
			if _, err := br.Peek(1); errors.Is(err, io.EOF) || isReset(err) {
				return // closed between responses
			}
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("response %d unparseable: %v (input %q)", n, err, in)
			}
			if n >= max {
				t.Fatalf("%d responses to %q", n+1, in)
			}
			if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d to %q", resp.StatusCode, in)
			}
			if _, err := io.Copy(io.Discard, resp.Body); err != nil {
				t.Fatalf("response %d body: %v (input %q)", n, err, in)
			}
			resp.Body.Close()
		}
	})
}
