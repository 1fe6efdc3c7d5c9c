package rest

import (
	"fmt"
	"syscall"
)

// diskUsage returns the size, free bytes and bytes available to this user
// of the file system holding path.
func diskUsage(path string) (total, free, avail uint64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, 0, 0, fmt.Errorf("statfs %s: %w", path, err)
	}
	bs := uint64(st.Bsize)
	return st.Blocks * bs, st.Bfree * bs, st.Bavail * bs, nil
}
