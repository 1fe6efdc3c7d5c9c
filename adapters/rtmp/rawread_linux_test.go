//go:build linux

package rtmp

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = server.Close(); _ = client.Close() })
	return server, client
}

// A publisher's connection is read with raw read(2) calls that return what
// net.Conn.Read returns: the bytes queued, up to the buffer; they wait in
// the poller for an empty socket, time out at the connection's deadline,
// end with io.EOF when the peer closes and with net.ErrClosed when the
// connection closes under a waiting read, and allocate nothing.
func TestRawReader(t *testing.T) {
	srv, cli := tcpPair(t)
	r := newRawReader(srv)
	if r == nil {
		t.Fatal("no raw reader for a TCP connection")
	}
	if newRawReader(struct{ net.Conn }{srv}) != nil {
		t.Fatal("a raw reader for a connection that is not a *net.TCPConn")
	}

	// What is queued, cut to the buffer; the rest on the next read.
	msg := bytes.Repeat([]byte("0123456789abcdef"), 1000) // 16,000 bytes
	if _, err := cli.Write(msg); err != nil {
		t.Fatal(err)
	}
	var got []byte
	buf := make([]byte, 3000)
	for len(got) < len(msg) {
		n, err := r.read(buf)
		if err != nil || n <= 0 || n > len(buf) {
			t.Fatalf("read %d, %v after %d bytes", n, err, len(got))
		}
		got = append(got, buf[:n]...)
	}
	if !bytes.Equal(got, msg) {
		t.Fatal("the bytes read differ from those written")
	}
	if n, err := r.read(nil); n != 0 || err != nil {
		t.Fatalf("an empty read: %d, %v", n, err)
	}

	// A read waits for data.
	go func() {
		time.Sleep(50 * time.Millisecond)
		_, _ = cli.Write([]byte("late"))
	}()
	start := time.Now()
	if n, err := r.read(buf); err != nil || string(buf[:n]) != "late" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	if waited := time.Since(start); waited < 40*time.Millisecond {
		t.Fatalf("the read returned after %v, before the data was written", waited)
	}

	// The connection's deadline applies.
	_ = srv.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	var err error
	_, err = r.read(buf)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("past the deadline: %v, want a timeout", err)
	}
	_ = srv.SetReadDeadline(time.Time{})

	// No allocation per read.
	if _, err := cli.Write(bytes.Repeat([]byte{1}, 4000)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	one := make([]byte, 1)
	if allocs := testing.AllocsPerRun(1000, func() {
		if _, err := r.read(one); err != nil {
			t.Fatal(err)
		}
	}); allocs != 0 {
		t.Fatalf("%v allocations per read", allocs)
	}
	rest := make([]byte, 4000)
	for left := 4000 - 1001; left > 0; { // AllocsPerRun runs once more to warm up
		n, err := r.read(rest)
		if err != nil {
			t.Fatal(err)
		}
		left -= n
	}

	// The peer closes: io.EOF, as net.Conn.Read says it.
	_ = cli.Close()
	if n, err := r.read(buf); n != 0 || err != io.EOF {
		t.Fatalf("after the peer closed: %d, %v; want io.EOF", n, err)
	}

	// The server reads the connections it accepts so.
	s, err := New(Config{Addr: "127.0.0.1:0", Logger: discard}, newPubRecorder(t).ingest())
	if err != nil {
		t.Fatal(err)
	}
	srv3, _ := tcpPair(t)
	nc := s.register(srv3)
	if nc.raw == nil {
		t.Error("an accepted TCP connection is read through the net package")
	}
	s.release(nc)

	// The connection closes under a waiting read: net.ErrClosed.
	srv2, _ := tcpPair(t)
	r2 := newRawReader(srv2)
	done := make(chan error, 1)
	go func() {
		_, err := r2.read(buf)
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	_ = srv2.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("closed under the read: %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the read did not end when the connection closed")
	}
}
