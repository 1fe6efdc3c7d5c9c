package http1

import (
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// bufMax is how much of a response is gathered before it is written: a
// header and a playlist go out in one write, a larger body in one writev
// with the header.
const bufMax = 8 << 10

// response is the http.ResponseWriter of a request answered on the Lane.
// It sends Content-Length bodies as they come (the header with the first
// of them), and gathers a body of unknown length to send it with its
// length once the handler returns. It has ReadFrom: a file goes out with
// sendfile, the header queued ahead of it (MSG_MORE) so that both leave in
// the same packets.
type response struct {
	c      *conn
	req    *http.Request // nil for the Lane's own error answers
	header http.Header
	status int
	// body: the status and method allow a body; clen is the declared
	// Content-Length, -1 when none (the body is then gathered in gather).
	body    bool
	clen    int64
	written int64
	head    bool   // the header is in buf or sent
	buf     []byte // not yet written: the header, and small body writes
	gather  []byte
	close   bool // the connection closes after this response
	err     error
}

func (w *response) reset(c *conn, req *http.Request, closeAfter bool) {
	clear(c.header)
	*w = response{c: c, req: req, header: c.header, clen: -1, close: closeAfter, buf: w.buf[:0]}
}

func (w *response) Header() http.Header { return w.header }

func (w *response) WriteHeader(status int) {
	if w.status != 0 {
		return // as net/http, the first status stands
	}
	if status < 200 || status > 999 {
		// 1xx informational answers are not sent on the Lane.
		if status >= 100 && status < 200 {
			return
		}
		panic("http1: invalid WriteHeader code " + strconv.Itoa(status))
	}
	w.status = status
	w.body = status != http.StatusNoContent && status != http.StatusNotModified &&
		(w.req == nil || w.req.Method != http.MethodHead)
	if v := w.header.Get("Content-Length"); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
			w.clen = n
		} else {
			delete(w.header, "Content-Length")
		}
	}
}

func (w *response) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.err != nil {
		return 0, w.err
	}
	if !w.body {
		if w.req != nil && w.req.Method == http.MethodHead {
			return len(b), nil
		}
		return 0, http.ErrBodyNotAllowed
	}
	if w.clen < 0 {
		w.gather = append(w.gather, b...)
		return len(b), nil
	}
	if w.written+int64(len(b)) > w.clen {
		return 0, http.ErrContentLength
	}
	if !w.head {
		w.sniff(b)
		w.writeHead()
	}
	w.written += int64(len(b))
	if len(w.buf)+len(b) <= bufMax {
		w.buf = append(w.buf, b...)
		return len(b), nil
	}
	if err := w.c.writeAll(w.buf, b); err != nil {
		w.fail(err)
		return 0, err
	}
	w.buf = w.buf[:0]
	return len(b), nil
}

// ReadFrom sends what src holds: with sendfile when src is a file (or a
// limited reader of one) and the connection TCP.
func (w *response) ReadFrom(src io.Reader) (int64, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.err != nil {
		return 0, w.err
	}
	if !w.body || w.clen < 0 || w.c.tcp == nil {
		return io.Copy(writerOnly{w}, src)
	}
	w.writeHead()
	if err := w.c.sendMore(w.buf); err != nil {
		w.fail(err)
		return 0, err
	}
	w.buf = w.buf[:0]
	n, err := w.c.tcp.ReadFrom(src)
	w.written += n
	if err != nil {
		w.fail(err)
		return n, err
	}
	if w.written > w.clen {
		w.close = true // the client would read the excess as the next response
		return n, http.ErrContentLength
	}
	return n, nil
}

// Flush writes what is gathered, when the body's length is known.
func (w *response) Flush() {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.err != nil || w.clen < 0 && w.body {
		return
	}
	w.writeHead()
	if err := w.c.writeAll(w.buf, nil); err != nil {
		w.fail(err)
		return
	}
	w.buf = w.buf[:0]
}

func (w *response) fail(err error) {
	w.err = err
	w.close = true
}

// finish completes the response once the handler has returned.
func (w *response) finish() {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.body && w.clen < 0 {
		// A body of unknown length, now known.
		w.clen = int64(len(w.gather))
		w.written = w.clen
		w.header["Content-Length"] = []string{strconv.Itoa(len(w.gather))}
		w.sniff(w.gather)
	}
	w.writeHead()
	if w.err == nil && w.body && w.written < w.clen {
		// The client waits for bytes that will not come: only closing
		// tells it.
		w.close = true
	}
	if w.err == nil {
		if err := w.c.writeAll(w.buf, w.gather); err != nil {
			w.fail(err)
		}
	}
	w.buf = w.buf[:0]
	if cap(w.buf) > 4*bufMax {
		w.buf = nil
	}
	w.gather = nil
}

// sniff sets a Content-Type from the body's first bytes when the handler
// set none, as net/http does.
func (w *response) sniff(b []byte) {
	if _, ok := w.header["Content-Type"]; ok || len(b) == 0 {
		return
	}
	w.header["Content-Type"] = []string{http.DetectContentType(b)}
}

// writeHead puts the status line and header in buf.
func (w *response) writeHead() {
	if w.head {
		return
	}
	w.head = true
	if v := w.header["Connection"]; len(v) > 0 && v[0] == "close" || w.c.l.isDraining() {
		w.close = true // the client is told, and will not send another request here
	}
	b := append(w.buf, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(w.status), 10)
	b = append(b, ' ')
	b = append(b, http.StatusText(w.status)...)
	b = append(b, "\r\n"...)
	if _, ok := w.header["Date"]; !ok {
		b = append(b, "Date: "...)
		b = append(b, w.c.l.date.get()...)
		b = append(b, "\r\n"...)
	}
	for k, vs := range w.header {
		if k == "Connection" {
			continue
		}
		for _, v := range vs {
			b = append(b, k...)
			b = append(b, ": "...)
			b = appendValue(b, v)
			b = append(b, "\r\n"...)
		}
	}
	if w.close {
		b = append(b, "Connection: close\r\n"...)
	}
	w.buf = append(b, "\r\n"...)
}

// appendValue appends a header value with its line breaks made spaces, as
// net/http writes them: a value can never end the header early.
func appendValue(b []byte, v string) []byte {
	start := len(b)
	b = append(b, v...)
	for i := start; i < len(b); i++ {
		if b[i] == '\r' || b[i] == '\n' {
			b[i] = ' '
		}
	}
	return b
}

// writerOnly hides a response's ReadFrom from io.Copy.
type writerOnly struct{ io.Writer }

// dateCache formats the Date header once a second.
type dateCache struct{ v atomic.Pointer[dateValue] }

type dateValue struct {
	sec int64
	s   []byte
}

func (d *dateCache) get() []byte {
	now := time.Now()
	if v := d.v.Load(); v != nil && v.sec == now.Unix() {
		return v.s
	}
	v := &dateValue{sec: now.Unix(), s: now.UTC().AppendFormat(nil, http.TimeFormat)}
	d.v.Store(v)
	return v.s
}
