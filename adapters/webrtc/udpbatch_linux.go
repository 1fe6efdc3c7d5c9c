//go:build linux && (amd64 || arm64)

package webrtc

import (
	"errors"
	"net"
	"net/netip"
	"runtime"
	"syscall"
	"unsafe"
)

// mmsghdr is struct mmsghdr on 64-bit Linux.
type mmsghdr struct {
	hdr syscall.Msghdr
	n   uint32
	_   [4]byte
}

// mmsgSender sends queued datagrams with sendmmsg, batchMax per call.
type mmsgSender struct {
	raw  syscall.RawConn
	hdrs [batchMax]mmsghdr
	iovs [batchMax]syscall.Iovec
	sa4  [batchMax]syscall.RawSockaddrInet4
	sa6  [batchMax]syscall.RawSockaddrInet6
}

func newBatchSender(c *batchConn) batchSender {
	raw, err := c.SyscallConn()
	if err != nil {
		return plainSender{}
	}
	return &mmsgSender{raw: raw}
}

func (s *mmsgSender) send(c *batchConn, d *datagrams) {
	for i := 0; i < d.len(); {
		n := 0
		for ; n < batchMax && i+n < d.len(); n++ {
			if !s.prepare(c.v4, n, d.packet(i+n), d.addrs[i+n]) {
				break
			}
		}
		if n == 0 { // an address the socket cannot reach
			c.failed.Add(1)
			i++
			continue
		}
		sent, err := s.sendmmsg(c, n)
		i += sent
		if err != nil {
			return // closed
		}
	}
}

// prepare fills message j with packet p for addr; false when addr's
// family does not suit the socket.
func (s *mmsgSender) prepare(v4 bool, j int, p []byte, addr netip.AddrPort) bool {
	h := &s.hdrs[j].hdr
	ip := addr.Addr()
	port := addr.Port()
	if v4 {
		ip = ip.Unmap()
		if !ip.Is4() {
			return false
		}
		sa := &s.sa4[j]
		sa.Family = syscall.AF_INET
		pb := (*[2]byte)(unsafe.Pointer(&sa.Port))
		pb[0], pb[1] = byte(port>>8), byte(port)
		sa.Addr = ip.As4()
		h.Name = (*byte)(unsafe.Pointer(sa))
		h.Namelen = syscall.SizeofSockaddrInet4
	} else {
		sa := &s.sa6[j]
		sa.Family = syscall.AF_INET6
		pb := (*[2]byte)(unsafe.Pointer(&sa.Port))
		pb[0], pb[1] = byte(port>>8), byte(port)
		sa.Addr = ip.As16()
		sa.Scope_id = 0
		h.Name = (*byte)(unsafe.Pointer(sa))
		h.Namelen = syscall.SizeofSockaddrInet6
	}
	iov := &s.iovs[j]
	iov.Base = unsafe.SliceData(p)
	iov.SetLen(len(p))
	h.Iov = iov
	h.Iovlen = 1
	return true
}

// sendmmsg sends messages 0..n-1, waiting for room in the socket when it
// is full. It returns how many were consumed: sent, or skipped when the
// kernel refused one (counted in failed). err is set when the socket is closed.
func (s *mmsgSender) sendmmsg(c *batchConn, n int) (int, error) {
	done := 0
	for done < n {
		var (
			r     uintptr
			errno syscall.Errno
		)
		err := s.raw.Write(func(fd uintptr) bool {
			for {
				r, _, errno = syscall.Syscall6(sysSendmmsg, fd, uintptr(unsafe.Pointer(&s.hdrs[done])), uintptr(n-done), 0, 0, 0)
				if errno != syscall.EINTR {
					break
				}
			}
			return errno != syscall.EAGAIN
		})
		runtime.KeepAlive(s)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return done, err
			}
			return n, nil
		}
		if errno != 0 {
			c.failed.Add(1)
			done++ // the first message was refused (e.g. no route): skip it
			continue
		}
		done += int(r)
	}
	return done, nil
}
