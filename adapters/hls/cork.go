package hls

import (
	"context"
	"net"
	"net/http"
	"syscall"
)

// Holding a response until it is whole.
//
// net/http writes a response through a 4 KB connection buffer: a body that
// does not fit with the header goes out in two writes (the buffer with the
// header and the body's first bytes, then the rest), and on loopback or a
// fast link each write is its own transmission, with its own trip through
// the stack and wake-up of the reader. nginx corks the socket around a
// response for this (tcp_nopush); respWriter.Write does the same for a
// body of holdMin bytes or more (an LL-HLS part): TCP_CORK on, the header
// and body written, flushed, TCP_CORK off, so the response leaves as full
// segments. Segments sent with sendfile (respWriter.ReadFrom) are not
// held: measured, it made no difference there (BENCHMARKS.md). Holding
// needs the connection, which net/http does not hand a handler:
// ConnContext, set as the http.Server's ConnContext, puts it in the
// request's context.

// holdMin is the smallest body held: below it, header and body fit in
// net/http's 4 KB buffer and leave in one write anyway.
const holdMin = 3 << 10

type connKey struct{}

// heldConn is the connection a response can be held on.
type heldConn struct{ raw syscall.RawConn }

// ConnContext is an http.Server ConnContext hook: it keeps a connection's
// socket in the context of its requests, so that the HLS server can send
// a large response in one transmission. Connections without one (TLS, a
// pipe) are left out, and a socket that is not TCP refuses the cork: those
// are answered as before.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return ctx
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return ctx
	}
	return context.WithValue(ctx, connKey{}, &heldConn{raw: raw})
}

// connFrom returns the request's held connection, or nil.
func connFrom(r *http.Request) *heldConn {
	c, _ := r.Context().Value(connKey{}).(*heldConn)
	return c
}

// hold corks the connection; it reports false when it could not (not
// Linux, or the connection is closed), and then push does nothing.
func (c *heldConn) hold() bool {
	return c != nil && c.setCork(true)
}

// push uncorks the connection: what was held is sent.
func (c *heldConn) push() { c.setCork(false) }

func (c *heldConn) setCork(on bool) bool {
	v := 0
	if on {
		v = 1
	}
	var serr error
	err := c.raw.Control(func(fd uintptr) { serr = setCork(int(fd), v) })
	return err == nil && serr == nil
}
