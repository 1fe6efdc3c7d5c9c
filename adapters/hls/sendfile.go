package hls

import (
	"io"
	"os"
	"strconv"
	"unsafe"
)

// sendfileMin is the smallest body sent with sendfile: below it, opening
// the memory file costs more than copying the bytes.
const sendfileMin = 64 << 10

// sendTo writes b, which lies in m, to w with sendfile from m's memory
// file, as nginx sends its segments from the page cache: the kernel then
// queues references to the pages instead of copying every byte of every
// segment into each viewer's socket. It reports false, having written
// nothing, when it cannot: no memory file, b not in m, w without ReadFrom
// (net/http's response has one and hands a file to the connection's
// sendfile), or the file not reopened. The caller keeps m alive.
func (m *segmentMemory) sendTo(w io.Writer, b []byte) bool {
	if m == nil || m.fd < 0 || len(b) < sendfileMin {
		return false
	}
	rf, ok := w.(io.ReaderFrom)
	if ft, wraps := w.(fileTaker); !ok || wraps && !ft.takesFiles() {
		return false
	}
	off, ok := m.offset(b)
	if !ok {
		return false
	}
	// The reopened file also keeps the pages if m's cleanup closes m.fd.
	f, err := m.file()
	if err != nil {
		return false
	}
	defer m.put(f)
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return false
	}
	_, _ = rf.ReadFrom(io.LimitReader(f, int64(len(b))))
	return true
}

// fileTaker is a writer that wraps another (respWriter) and says whether
// that one takes files in ReadFrom; its own ReadFrom would copy otherwise.
type fileTaker interface{ takesFiles() bool }

// offset returns where b starts in m's bytes, if b lies within them.
func (m *segmentMemory) offset(b []byte) (int64, bool) {
	if len(b) == 0 || len(m.b) == 0 {
		return 0, false
	}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(m.b)))
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	if p < start || p+uintptr(len(b)) > start+uintptr(len(m.b)) {
		return 0, false
	}
	return int64(p - start), true
}

// maxIdleFiles is how many reopened files a segment keeps for the next
// responses: its viewers fetch it within a second or so, a few at a time.
const maxIdleFiles = 2

// file returns an idle reopened file, or opens one: sendfile sends from the
// file's own position, so concurrent responses each need their own.
func (m *segmentMemory) file() (*os.File, error) {
	m.mu.Lock()
	if n := len(m.idle); n > 0 {
		f := m.idle[n-1]
		m.idle = m.idle[:n-1]
		m.mu.Unlock()
		return f, nil
	}
	m.mu.Unlock()
	return os.Open("/proc/self/fd/" + strconv.Itoa(m.fd))
}

// put keeps f for the next response, or closes it past maxIdleFiles.
func (m *segmentMemory) put(f *os.File) {
	m.mu.Lock()
	if len(m.idle) < maxIdleFiles {
		m.idle = append(m.idle, f)
		m.mu.Unlock()
		return
	}
	m.mu.Unlock()
	_ = f.Close()
}
