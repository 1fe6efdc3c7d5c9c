package hls

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
	b []byte
}
