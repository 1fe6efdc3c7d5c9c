package hls

import "golang.org/x/sys/unix"

// memoryFile returns a memory file (memfd) of n bytes, or -1 if the kernel
// gives none.
func memoryFile(n int) int {
	fd, err := unix.MemfdCreate("colony-hls-segment", unix.MFD_CLOEXEC)
	if err != nil {
		return -1
	}
	if err := unix.Ftruncate(fd, int64(n)); err != nil {
		_ = unix.Close(fd)
		return -1
	}
	return fd
}
