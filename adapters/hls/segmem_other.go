//go:build !unix

package hls

// newSegmentMemory returns n bytes on the Go heap (no mapping here).
func newSegmentMemory(n int, _ *memoryFiles) *segmentMemory {
	return &segmentMemory{b: make([]byte, n), fd: -1}
}
