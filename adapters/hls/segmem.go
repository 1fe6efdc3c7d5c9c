package hls

import (
	"os"
	"sync"
	"sync/atomic"
)

// segmentMemory holds the bytes of ended segments (memStorage). On Linux
// and other Unix systems they are mapped outside the Go heap
// (segmem_unix.go): a stream's window is then held once, at its size in
// pages, without the garbage collector's headroom doubling it or marking
// it, and the mapping is released by a cleanup once no segmentMemory
// reference is left. Every holder of bytes that may lie in it (storage
// files and parts, cache entries, readers, buffered responses) therefore
// keeps the *segmentMemory beside the slice and keeps it alive
// (runtime.KeepAlive) until it has used them.
type segmentMemory struct {
	b      []byte
	fd     int  // the memory file b maps (Linux), or -1 (never 0, stdin)
	mapped bool // b is a mapping (not the Go heap), counted in segmentBytes

	// Files reopened from fd for sendfile, each with its own position,
	// kept for the next responses (at most maxIdleFiles); unreachable
	// with the segmentMemory, they are closed by os.File's own cleanup.
	mu   sync.Mutex
	idle []*os.File
}

// memoryFiles bounds the memory files a server's segments hold: each is a
// file descriptor (and up to maxIdleFiles reopened ones) until the cleanup
// of its segment closes it, which waits for the garbage collector, so a
// busy server could otherwise gather thousands between collections.
// Segments past the bound are anonymous memory, written to sockets by copy.
type memoryFiles struct {
	open atomic.Int64
	max  int64
	// bytes counts the mapped segment memory (of memory files and
	// anonymous alike); nil outside a server.
	bytes *segmentBytes
}

// counted returns f's byte counts (nil when f is).
func (f *memoryFiles) counted() *segmentBytes {
	if f == nil {
		return nil
	}
	return f.bytes
}

// maxMemoryFiles is the bound a server uses: some 250 streams' windows,
// at most 6,144 descriptors.
const maxMemoryFiles = 2048

// take reserves a memory file; false past the bound (or with no budget).
func (f *memoryFiles) take() bool {
	if f == nil {
		return false
	}
	if f.open.Add(1) > f.max {
		f.open.Add(-1)
		return false
	}
	return true
}

func (f *memoryFiles) release() { f.open.Add(-1) }
