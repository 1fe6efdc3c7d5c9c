package hls

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

type sockKey struct{}

// sockInfo reads a server-side socket's TCP figures: how many data
// segments it sent, and whether it is corked.
func sockInfo(c net.Conn) (segs uint32, corked int, err error) {
	raw, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		return 0, 0, err
	}
	var ierr, cerr error
	err = raw.Control(func(fd uintptr) {
		var info *unix.TCPInfo
		info, ierr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
		if ierr == nil {
			segs = info.Data_segs_out
		}
		corked, cerr = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_CORK)
	})
	return segs, corked, errors.Join(err, ierr, cerr)
}

// TestResponseHeld: a response too large for net/http's 4 KB buffer
// leaves a connection that ConnContext keeps in one TCP segment (on
// loopback, whose segments hold 64 KB), where net/http alone writes it in
// two (the buffer with the header, then the rest: usually two segments,
// unless the kernel's autocorking happens to join them, so that case is
// not asserted); it arrives whole, and the connection is uncorked after
// it, the second response on the same connection included. The segments
// are counted once the client has the whole response: the kernel may send
// them after the handler's writes return.
func TestResponseHeld(t *testing.T) {
	// An LL-HLS part's size (at 1.5 Mbit/s), within half the window a new
	// loopback connection starts with: the kernel cuts segments there.
	body := bytes.Repeat([]byte("0123456789abcdef"), 24<<10/16)
	var (
		conn   atomic.Pointer[net.Conn]
		before atomic.Uint32
	)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := r.Context().Value(sockKey{}).(net.Conn)
		conn.Store(&c)
		rw := &respWriter{ResponseWriter: w, bytesOut: &atomic.Uint64{}, conn: connFrom(r)}
		if rw.conn == nil {
			t.Error("ConnContext kept no connection")
		}
		segs, _, err := sockInfo(c)
		if err != nil {
			t.Error(err)
			return
		}
		before.Store(segs)
		f := &servedFile{body: body, ctype: []string{"video/mp4"},
			cacheControl: []string{"max-age=60"}, length: []string{strconv.Itoa(len(body))}}
		f.write(rw)
		if _, corked, err := sockInfo(c); err != nil || corked != 0 {
			t.Errorf("connection left corked (%d, %v) after the response", corked, err)
		}
	}))
	srv.Config.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		return ConnContext(context.WithValue(ctx, sockKey{}, c), c)
	}
	srv.Start()
	defer srv.Close()
	client := srv.Client()
	defer client.CloseIdleConnections()
	for i := range 2 { // the second on the same connection
		resp, err := client.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("response %d: %d bytes, err %v; want the %d sent", i, len(got), err, len(body))
		}
		after, _, err := sockInfo(*conn.Load())
		if err != nil {
			t.Fatal(err)
		}
		if n := after - before.Load(); n != 1 {
			t.Errorf("response %d left in %d data segments, want 1", i, n)
		}
	}
}
