//go:build unix

package hls

import (
	"runtime"
	"syscall"
)

// newSegmentMemory returns n bytes mapped outside the Go heap, unmapped by
// a cleanup once the segmentMemory is unreachable; on a mapping failure,
// bytes on the heap.
func newSegmentMemory(n int) *segmentMemory {
	if n == 0 {
		return &segmentMemory{b: []byte{}}
	}
	b, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return &segmentMemory{b: make([]byte, n)}
	}
	m := &segmentMemory{b: b[:n:n]}
	runtime.AddCleanup(m, func(b []byte) { _ = syscall.Munmap(b) }, b)
	return m
}
