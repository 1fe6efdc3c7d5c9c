package http1

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// dataSegsIn reads how many data segments a client socket has received.
func dataSegsIn(t *testing.T, c net.Conn) uint32 {
	t.Helper()
	raw, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var segs uint32
	var ierr error
	if err := raw.Control(func(fd uintptr) {
		var info *unix.TCPInfo
		info, ierr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
		if ierr == nil {
			segs = info.Data_segs_in
		}
	}); err != nil || ierr != nil {
		t.Fatal(err, ierr)
	}
	return segs
}

// TestLaneOneTransmission: a response of an LL-HLS part's size leaves the
// Lane with its header in one TCP segment (loopback segments hold 64 KB),
// whether the body is written (one writev with the header) or sent from a
// file (the header queued with MSG_MORE ahead of the sendfile; without
// MSG_MORE the header leaves in a segment of its own, checked).
func TestLaneOneTransmission(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789abcdef"), 24<<10/16)
	file := filepath.Join(t.TempDir(), "part")
	if err := os.WriteFile(file, body, 0o600); err != nil {
		t.Fatal(err)
	}
	clen := []string{strconv.Itoa(len(body))}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Length"] = clen
		w.Header()["Content-Type"] = []string{"video/mp4"}
		if r.URL.Path == "/lane/write" {
			_, _ = w.Write(body)
			return
		}
		f, err := os.Open(file)
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		_, _ = w.(io.ReaderFrom).ReadFrom(io.LimitReader(f, int64(len(body))))
	})
	ts := newTestServer(t, Config{}, h)
	for _, path := range []string{"/lane/write", "/lane/file"} {
		c, br := ts.dial(t)
		for i := 0; i < 3; i++ { // the first responses of a connection, and later ones
			before := dataSegsIn(t, c)
			if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || !bytes.Equal(got, body) {
				t.Fatalf("%s: body of %d bytes (%v), want %d", path, len(got), err, len(body))
			}
			if n := dataSegsIn(t, c) - before; n != 1 {
				t.Errorf("%s, response %d: %d data segments, want 1", path, i, n)
			}
		}
	}
}
