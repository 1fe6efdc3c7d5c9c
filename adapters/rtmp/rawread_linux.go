//go:build linux

package rtmp

import (
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"
)

// rawReader reads a publisher's TCP connection with read(2) made as a raw
// system call, as the WebRTC port reads and sends (adapters/webrtc): the
// socket is non-blocking, so an empty one returns EAGAIN and the reader
// waits in the poller (which keeps the connection's deadlines), and the
// call itself is only copying what is queued. Through the net package each
// read told the scheduler it might block, and a read made after the
// processors had gone idle (each of a publisher's messages, on a server
// waiting for them) woke sysmon from its deep sleep into 20 µs polling.
//
// Only go-rtmp's connection goroutine reads, one read at a time.
type rawReader struct {
	raw   syscall.RawConn
	laddr net.Addr
	buf   []byte
	n     int
	errno syscall.Errno
	fn    func(fd uintptr) bool // r.once, made once: no allocation per read
}

// newRawReader returns a raw reader for a TCP connection, nil for other
// connections or when the descriptor cannot be had.
func newRawReader(c net.Conn) *rawReader {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return nil
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	r := &rawReader{raw: raw, laddr: tc.LocalAddr()}
	r.fn = r.once
	return r
}

// once makes one read into r.buf; it reports false (wait for the socket to
// be readable) when nothing is queued.
func (r *rawReader) once(fd uintptr) bool {
	for {
		n, _, errno := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&r.buf[0])), uintptr(len(r.buf)))
		if errno == syscall.EINTR {
			continue
		}
		r.n, r.errno = int(n), errno
		return errno != syscall.EAGAIN
	}
}

// read reads into b as net.Conn.Read does: what is queued, up to len(b),
// waiting for some; io.EOF once the peer has closed; the poller's error
// (net.ErrClosed, os.ErrDeadlineExceeded) wrapped in a *net.OpError.
func (r *rawReader) read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	r.buf = b
	err := r.raw.Read(r.fn)
	r.buf = nil
	switch {
	case err != nil:
		return 0, err
	case r.errno != 0:
		return 0, &net.OpError{Op: "read", Net: "tcp", Addr: r.laddr, Err: os.NewSyscallError("read", r.errno)}
	case r.n == 0:
		return 0, io.EOF
	}
	return r.n, nil
}
