//go:build unix && !linux

package hls

// memoryFile returns -1: memory files are Linux's; elsewhere segments are
// anonymous mappings, written to the socket by copy.
func memoryFile(int) int { return -1 }
