package http1

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime/debug"
	"sync/atomic"
	"syscall"
	"time"
)

// readBufSize is a connection's read buffer: a request head must fit in it
// to be answered on the Lane (bigger ones go to net/http).
const readBufSize = 4 << 10

// maxDiscard is the most request body read and dropped to keep a
// connection (a GET rarely has one); past it the connection closes.
const maxDiscard = 256 << 10

// Connection states, kept with the time they began (stamp).
const (
	stateIdle   = iota // waiting for a request
	stateHead          // a request head under way
	stateActive        // answering
	stateClosed        // closed by the sweeper or the drain, or handed over
)

// stamp packs a state and the time it began (nanoseconds since the Lane's
// epoch) in one word, so the sweeper can swap it for stateClosed without
// racing the connection's own changes.
func stamp(state int, since time.Duration) int64 { return int64(since)<<2 | int64(state) }

func unstamp(v int64) (state int, since time.Duration) {
	return int(v & 3), time.Duration(v >> 2)
}

var (
	errHeadTooLarge = errors.New("request head larger than the read buffer")
	errClosedByLane = errors.New("connection closed by the lane")
)

// conn is one client connection served by the Lane.
type conn struct {
	l      *Lane
	nc     net.Conn
	tcp    *net.TCPConn    // nil when the connection is not TCP
	raw    syscall.RawConn // for MSG_MORE; nil when not available
	br     *bufio.Reader
	remote string
	st     atomic.Int64 // stamp
	header http.Header  // reused by each response
	resp   response
	bufs   [2][]byte // backing array of one writev
}

func newConn(l *Lane, nc net.Conn) *conn {
	c := &conn{l: l, nc: nc, remote: nc.RemoteAddr().String(), header: make(http.Header, 8)}
	if tc, ok := nc.(*net.TCPConn); ok {
		c.tcp = tc
		if raw, err := tc.SyscallConn(); err == nil {
			c.raw = raw
		}
	}
	c.st.Store(stamp(stateIdle, l.clock()))
	return c
}

// enter moves the connection from the state it is in to next; it reports
// false once the connection was closed under it.
func (c *conn) enter(next int) bool {
	for {
		v := c.st.Load()
		if s, _ := unstamp(v); s == stateClosed {
			return false
		}
		if c.st.CompareAndSwap(v, stamp(next, c.l.clock())) {
			return true
		}
	}
}

// closeIfIdle closes the connection if it is waiting for a request.
func (c *conn) closeIfIdle() {
	v := c.st.Load()
	if s, _ := unstamp(v); s == stateIdle && c.st.CompareAndSwap(v, stamp(stateClosed, 0)) {
		_ = c.nc.Close()
	}
}

// expire closes the connection if it has been in its state too long.
func (c *conn) expire(now time.Duration) {
	v := c.st.Load()
	s, since := unstamp(v)
	var limit time.Duration
	switch s {
	case stateIdle:
		limit = c.l.cfg.IdleTimeout
	case stateHead:
		limit = c.l.cfg.HeaderTimeout
	case stateActive:
		limit = c.l.cfg.WriteTimeout
	default:
		return
	}
	if now-since > limit && c.st.CompareAndSwap(v, stamp(stateClosed, 0)) {
		_ = c.nc.Close()
	}
}

// serve answers the connection's requests until one is not the Lane's
// (then the connection goes to net/http), the client closes, or the Lane
// closes it.
func (c *conn) serve() {
	c.br = c.l.readers.Get().(*bufio.Reader)
	c.br.Reset(c.nc)
	handedOver := false
	defer func() {
		if p := recover(); p != nil && p != http.ErrAbortHandler {
			c.l.cfg.Logger.Error("http: panic serving a request", "remote", c.remote, "panic", p, "stack", string(debug.Stack()))
		}
		c.l.forget(c)
		if !handedOver {
			c.st.Store(stamp(stateClosed, 0))
			_ = c.nc.Close()
			c.br.Reset(nil)
			c.l.readers.Put(c.br)
		}
	}()
	for {
		if c.l.isDraining() || !c.enter(stateIdle) {
			return
		}
		head, err := c.readHead()
		if err != nil {
			if errors.Is(err, errHeadTooLarge) {
				handedOver = c.handOver()
			}
			return
		}
		method, target, proto, ok := requestLine(head)
		if !ok || proto != "HTTP/1.1" || !c.l.cfg.Takes(method, target) {
			handedOver = c.handOver()
			return
		}
		if !c.enter(stateActive) {
			return
		}
		req, err := http.ReadRequest(c.br)
		if err != nil {
			c.fail(http.StatusBadRequest, "malformed request")
			return
		}
		if !c.answer(req) {
			return
		}
	}
}

// readHead waits for a whole request head in the buffer and returns it
// (still buffered: http.ReadRequest reads it again).
func (c *conn) readHead() ([]byte, error) {
	if _, err := c.br.Peek(1); err != nil {
		return nil, err
	}
	if !c.enter(stateHead) {
		return nil, errClosedByLane
	}
	for {
		buf, _ := c.br.Peek(c.br.Buffered())
		if end := headEnd(buf); end > 0 {
			return buf[:end], nil
		}
		if len(buf) == c.br.Size() {
			return nil, errHeadTooLarge
		}
		if _, err := c.br.Peek(len(buf) + 1); err != nil {
			return nil, err
		}
	}
}

// headEnd returns the length of the request head at the start of b (up to
// and including the empty line that ends it, CRLF or bare LF), or 0.
func headEnd(b []byte) int {
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return 0
		}
		i += j + 1
		switch {
		case i < len(b) && b[i] == '\n':
			return i + 1
		case i+1 < len(b) && b[i] == '\r' && b[i+1] == '\n':
			return i + 2
		}
	}
}

// requestLine splits a head's first line into method, request-target and
// protocol.
func requestLine(head []byte) (method, target, proto string, ok bool) {
	line, _, _ := bytes.Cut(head, []byte{'\n'})
	line = bytes.TrimSuffix(line, []byte{'\r'})
	m, rest, ok1 := bytes.Cut(line, []byte{' '})
	t, p, ok2 := bytes.Cut(rest, []byte{' '})
	if !ok1 || !ok2 || len(m) == 0 || len(t) == 0 || t[0] != '/' {
		return "", "", "", false
	}
	return string(m), string(t), string(p), true
}

// handOver gives the connection, with what is buffered, to net/http.
func (c *conn) handOver() bool {
	if !c.enter(stateClosed) {
		return false
	}
	var hc net.Conn = &handedConn{Conn: c.nc, br: c.br}
	if c.tcp != nil {
		hc = &handedTCPConn{TCPConn: c.tcp, br: c.br}
	}
	return c.l.handOver(hc)
}

// answer serves one request; it reports whether the connection stays open.
func (c *conn) answer(req *http.Request) bool {
	c.l.requests.Add(1)
	// As net/http: HTTP/1.1 needs a Host header (http.ReadRequest refuses
	// two, and moves it to req.Host).
	if req.Host == "" || !validHost(req.Host) {
		c.fail(http.StatusBadRequest, "missing or malformed Host header")
		return false
	}
	keep := !req.Close
	if req.Body != nil && req.Body != http.NoBody {
		n, err := io.CopyN(io.Discard, req.Body, maxDiscard+1)
		if n > maxDiscard || err != nil && !errors.Is(err, io.EOF) {
			keep = false
		}
		req.Body = http.NoBody
	}
	req.RemoteAddr = c.remote
	req = req.WithContext(c.l.base)
	w := &c.resp
	w.reset(c, req, !keep)
	c.l.cfg.Handler.ServeHTTP(w, req)
	w.finish()
	return !w.close
}

// fail answers a request the Lane cannot serve, and the connection closes.
func (c *conn) fail(status int, msg string) {
	w := &c.resp
	w.reset(c, nil, true)
	w.header["Content-Type"] = []string{"text/plain; charset=utf-8"}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, msg+"\n")
	w.finish()
}

// validHost is a lenient check of a Host header: no spaces, controls or
// characters that have no place in a host and port.
func validHost(h string) bool {
	for i := 0; i < len(h); i++ {
		switch c := h[i]; {
		case c <= ' ', c == 0x7f, c == '/', c == '?', c == '#', c == '\\':
			return false
		}
	}
	return true
}

// writeAll writes a, then b (either may be empty) in one system call.
func (c *conn) writeAll(a, b []byte) error {
	switch {
	case len(a) == 0 && len(b) == 0:
		return nil
	case len(b) == 0:
		_, err := c.nc.Write(a)
		return err
	case len(a) == 0:
		_, err := c.nc.Write(b)
		return err
	}
	c.bufs[0], c.bufs[1] = a, b
	v := net.Buffers(c.bufs[:])
	_, err := v.WriteTo(c.nc)
	c.bufs[0], c.bufs[1] = nil, nil
	return err
}

// handedConn is a connection handed to net/http: its reads return first
// what the Lane had buffered.
type handedConn struct {
	net.Conn
	br *bufio.Reader
}

func (c *handedConn) Read(p []byte) (int, error) { return c.br.Read(p) }

// handedTCPConn is a handed-over TCP connection: it keeps the TCP
// connection's methods (sendfile in ReadFrom, SyscallConn, CloseWrite)
// except its reads.
type handedTCPConn struct {
	*net.TCPConn
	br *bufio.Reader
}

func (c *handedTCPConn) Read(p []byte) (int, error) { return c.br.Read(p) }

// WriteTo sends what the connection receives to w, the buffered bytes
// first (the TCP connection's own WriteTo would skip them).
func (c *handedTCPConn) WriteTo(w io.Writer) (int64, error) { return c.br.WriteTo(w) }
