//go:build !unix

package hls

// newSegmentMemory returns n bytes on the Go heap (no mapping here).
func newSegmentMemory(n int) *segmentMemory {
	return &segmentMemory{b: make([]byte, n)}
}
