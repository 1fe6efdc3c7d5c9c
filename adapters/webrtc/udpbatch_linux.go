//go:build linux && (amd64 || arm64)

package webrtc

import (
	"errors"
	"net"
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

// iovMax bounds the datagrams of one sendmmsg call (each is an iovec).
const iovMax = 4 * batchMax

// mmsgSender sends queued datagrams with sendmmsg, batchMax messages per
// call; with UDP GSO (gso.go) a message carries several datagrams to one
// address.
type mmsgSender struct {
	raw  syscall.RawConn
	gso  bool // UDP_SEGMENT is used; cleared for good by an EIO
	sys  sendmmsgFunc
	plan gsoPlan
	hdrs [batchMax]mmsghdr
	iovs [iovMax]syscall.Iovec
	ctrl [batchMax]gsoCmsg
	sa4  [batchMax]syscall.RawSockaddrInet4
	sa6  [batchMax]syscall.RawSockaddrInet6
}

// sendmmsgFunc is the system call (tests put a fault injector around it).
type sendmmsgFunc func(fd uintptr, hdrs *mmsghdr, n int) (int, syscall.Errno)

// sysSendmmsgCall makes the call as a raw system call, which the
// scheduler does not see: the socket is non-blocking (a full socket
// returns EAGAIN, and the sender waits in the poller), so the call is
// only work, at most batchMax messages of it. Through syscall.Syscall6
// each call also told the scheduler it might block, and one that ran for
// more than sysmon's 20 µs tick had its processor handed to another
// thread meanwhile, which kept sysmon polling at that tick: 200 WHEP
// viewers cost 7 % more CPU so (0.45-0.46 against 0.42-0.43 cores).
func sysSendmmsgCall(fd uintptr, hdrs *mmsghdr, n int) (int, syscall.Errno) {
	r, _, errno := syscall.RawSyscall6(sysSendmmsg, fd, uintptr(unsafe.Pointer(hdrs)), uintptr(n), 0, 0, 0)
	return int(r), errno
}

// newBatchSender returns a sendmmsg sender, using GSO when gso is set and
// the socket supports it.
func newBatchSender(c *batchConn, gso bool) batchSender {
	raw, err := c.SyscallConn()
	if err != nil {
		return plainSender{}
	}
	s := &mmsgSender{raw: raw, sys: sysSendmmsgCall}
	s.gso = gso && probeGSO(raw)
	c.gso.Store(s.gso)
	return s
}

func (s *mmsgSender) send(c *batchConn, d *datagrams) {
	s.plan.make(d, s.gso)
	msgs := s.plan.msgs
	for i := 0; i < len(msgs); {
		n, iov := 0, 0
		for ; n < batchMax && i+n < len(msgs); n++ {
			m := msgs[i+n]
			if iov+int(m.n) > iovMax || !s.prepare(c.v4, n, iov, m, d) {
				break
			}
			iov += int(m.n)
		}
		if n == 0 { // an address the socket cannot reach
			c.failed.Add(uint64(msgs[i].n))
			i++
			continue
		}
		sent, err := s.sendmmsg(c, d, i, n)
		i += sent
		if err != nil {
			return // closed
		}
	}
}

// prepare fills message j, its datagrams from iovec k on, with m; false
// when m's address family does not suit the socket.
func (s *mmsgSender) prepare(v4 bool, j, k int, m gsoMsg, d *datagrams) bool {
	h := &s.hdrs[j].hdr
	first := s.plan.order[m.start]
	addr := d.addrs[first]
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
	for x := range int(m.n) {
		p := d.packet(int(s.plan.order[int(m.start)+x]))
		iov := &s.iovs[k+x]
		iov.Base = unsafe.SliceData(p)
		iov.SetLen(len(p))
	}
	h.Iov = &s.iovs[k]
	h.Iovlen = uint64(m.n)
	if m.n > 1 {
		s.ctrl[j].set(m.seg)
		h.Control = (*byte)(unsafe.Pointer(&s.ctrl[j]))
		h.SetControllen(gsoCmsgLen)
	} else {
		h.Control = nil
		h.SetControllen(0)
	}
	return true
}

// sendmmsg sends messages 0..n-1 (plan messages first..first+n-1),
// waiting for room in the socket when it is full. It returns how many
// were consumed: sent, or skipped when the kernel refused one (its
// datagrams counted in failed; a refused GSO message is sent again one
// datagram at a time). err is set when the socket is closed.
func (s *mmsgSender) sendmmsg(c *batchConn, d *datagrams, first, n int) (int, error) {
	done := 0
	for done < n {
		var (
			r     int
			errno syscall.Errno
		)
		err := s.raw.Write(func(fd uintptr) bool {
			for {
				r, errno = s.sys(fd, &s.hdrs[done], n-done)
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
			m := s.plan.msgs[first+done]
			if m.n > 1 && (errno == syscall.EIO || errno == syscall.EINVAL || errno == syscall.EMSGSIZE) {
				// GSO refused (a route through a device or transform
				// without it: EIO, then GSO stays off; or segments the
				// route cannot carry whole: EINVAL, EMSGSIZE): one
				// datagram at a time.
				if errno == syscall.EIO {
					s.gso = false
					c.gso.Store(false)
				}
				if err := s.resend(c, d, m); err != nil {
					return done, err
				}
			} else {
				c.failed.Add(uint64(m.n))
			}
			done++
			continue
		}
		for _, m := range s.plan.msgs[first+done : first+done+r] {
			c.sent.Add(uint64(m.n))
		}
		c.msgs.Add(uint64(r))
		done += r
	}
	return done, nil
}

// resend sends m's datagrams one by one.
func (s *mmsgSender) resend(c *batchConn, d *datagrams, m gsoMsg) error {
	for x := range int(m.n) {
		i := int(s.plan.order[int(m.start)+x])
		if _, err := c.WriteToUDPAddrPort(d.packet(i), d.addrs[i]); err != nil {
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			c.failed.Add(1)
			continue
		}
		c.sent.Add(1)
		c.msgs.Add(1)
	}
	return nil
}
