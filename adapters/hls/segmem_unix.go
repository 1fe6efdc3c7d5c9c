//go:build unix

package hls

import (
	"runtime"
	"syscall"
)

// newSegmentMemory returns n bytes mapped outside the Go heap, unmapped by
// a cleanup once the segmentMemory is unreachable; on a mapping failure,
// bytes on the heap. Where the system has memory files (Linux's memfd),
// the bytes are a shared mapping of one, so that responses can send them
// with sendfile (sendfile.go) instead of copying them into the socket,
// while files allows one more.
func newSegmentMemory(n int, files *memoryFiles) *segmentMemory {
	if n == 0 {
		return &segmentMemory{b: []byte{}, fd: -1}
	}
	fd := -1
	if files.take() {
		if fd = memoryFile(n); fd < 0 {
			files.release()
		}
	}
	var b []byte
	var err error
	if fd >= 0 {
		b, err = syscall.Mmap(fd, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
		if err != nil {
			_ = syscall.Close(fd)
			files.release()
			fd = -1
		}
	}
	if fd < 0 {
		b, err = syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
		if err != nil {
			return &segmentMemory{b: make([]byte, n), fd: -1}
		}
	}
	m := &segmentMemory{b: b[:n:n], fd: fd, mapped: true}
	files.counted().addMapped(n)
	runtime.AddCleanup(m, func(r segmentMapping) {
		_ = syscall.Munmap(r.b)
		if r.fd >= 0 {
			_ = syscall.Close(r.fd)
			r.files.release()
		}
		r.files.counted().addMapped(-len(r.b))
	}, segmentMapping{b, fd, files})
	return m
}

// segmentMapping is what a segmentMemory's cleanup releases.
type segmentMapping struct {
	b     []byte
	fd    int
	files *memoryFiles
}
