package hls

import "syscall"

func setCork(fd, v int) error {
	return syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_CORK, v)
}
