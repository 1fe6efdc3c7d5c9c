package hls

import (
	"bytes"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"sync/atomic"
)

// bufferedWriter is an http.ResponseWriter that keeps the response, for
// answers that are rewritten or handed over from another goroutine.
type bufferedWriter struct {
	header http.Header
	status int // 0 while nothing was written
	body   bytes.Buffer
	// kept is a body taken by reference (keep): shared, immutable bytes,
	// possibly outside the Go heap, valid while owner is reachable.
	kept  []byte
	owner *segmentMemory
}

func newBufferedWriter() *bufferedWriter {
	return &bufferedWriter{header: make(http.Header)}
}

func (w *bufferedWriter) Header() http.Header { return w.header }

func (w *bufferedWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *bufferedWriter) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	w.unkeep()
	return w.body.Write(b)
}

// keep takes immutable bytes by reference as the whole body when nothing
// was written yet (see sharedReader); owner, if not nil, keeps them
// mapped. Otherwise they are copied.
func (w *bufferedWriter) keep(b []byte, owner *segmentMemory) {
	w.WriteHeader(http.StatusOK)
	if w.body.Len() == 0 && w.kept == nil {
		w.kept, w.owner = b[:len(b):len(b)], owner
		return
	}
	w.unkeep()
	w.body.Write(b)
	runtime.KeepAlive(owner)
}

// unkeep turns a kept body into an owned copy, before anything is added.
func (w *bufferedWriter) unkeep() {
	if w.kept != nil {
		w.body.Write(w.kept)
		runtime.KeepAlive(w.owner)
		w.kept, w.owner = nil, nil
	}
}

// replace makes b the whole body.
func (w *bufferedWriter) replace(b []byte) {
	w.kept, w.owner = nil, nil
	w.body.Reset()
	w.body.Write(b)
}

// bytes returns the body; valid while w is reachable.
func (w *bufferedWriter) bytes() []byte {
	if w.kept != nil {
		return w.kept
	}
	return w.body.Bytes()
}

// copyTo sends the kept response, or 404 if there is none: gohlslib writes
// nothing at all for a file it does not know.
func (w *bufferedWriter) copyTo(dst http.ResponseWriter) {
	if w.status == 0 {
		notFound(dst)
		return
	}
	h := dst.Header()
	for k, v := range w.header {
		h[k] = v
	}
	body := w.bytes()
	h.Set("Content-Length", strconv.Itoa(len(body)))
	dst.WriteHeader(w.status)
	_, _ = dst.Write(body)
	runtime.KeepAlive(w)
}

// respWriter counts the bytes of a response and remembers its status.
type respWriter struct {
	http.ResponseWriter
	bytesOut *atomic.Uint64
	status   int       // 0 while nothing was written
	conn     *heldConn // the connection, when its responses can be held (cork.go)
}

func (w *respWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *respWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if len(b) >= holdMin && w.conn.hold() {
		defer w.push()
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytesOut.Add(uint64(n))
	return n, err
}

// push sends a held response: what net/http still buffers, then the
// connection uncorked.
func (w *respWriter) push() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
	w.conn.push()
}

// ReadFrom hands r to the response's own ReadFrom, which sends a file
// with sendfile (segmentMemory.sendTo), counting the bytes.
func (w *respWriter) ReadFrom(r io.Reader) (int64, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	var n int64
	var err error
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(r)
	} else {
		n, err = io.Copy(struct{ io.Writer }{w.ResponseWriter}, r)
	}
	w.bytesOut.Add(uint64(n))
	return n, err
}

func (w *respWriter) takesFiles() bool {
	_, ok := w.ResponseWriter.(io.ReaderFrom)
	return ok
}

// Unwrap lets http.ResponseController reach the connection.
func (w *respWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// notFound answers 404 with a cache lifetime that lets a stream that
// starts a moment later be found.
func notFound(w http.ResponseWriter) {
	httpError(w, http.StatusNotFound, "not found")
}

func httpError(w http.ResponseWriter, status int, msg string) {
	h := w.Header()
	h.Del("Content-Length")
	h.Set("Cache-Control", "no-cache")
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(msg + "\n"))
}
