//go:build linux && (amd64 || arm64)

package webrtc

import (
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"syscall"
	"unsafe"
)

// rawReader reads datagrams with recvfrom made as a raw system call, as
// the sender makes sendmmsg (sysSendmmsgCall): the socket is non-blocking
// (an empty one returns EAGAIN and the reader waits in the poller), so the
// call is only work. Through the net package every read, and every empty
// read before the reader parks, told the scheduler it might block, which
// woke sysmon from its deep sleep into 20 µs polling whenever the
// processors had gone idle: with 200 WHEP viewers the muxed port reads
// some 700 RTCP packets a second, spread over the frame interval, and
// these reads were 70 % of the server's system call entries.
//
// One goroutine reads a muxed port (pion's UDPMux); the mutex keeps a
// second reader correct, not fast.
type rawReader struct {
	raw syscall.RawConn

	mu    sync.Mutex
	buf   []byte
	n     int
	errno syscall.Errno
	from  syscall.RawSockaddrAny
	fn    func(fd uintptr) bool // r.once, made once: no allocation per read
}

// newDatagramReader returns a raw reader for conn, or nil when its
// descriptor cannot be had.
func newDatagramReader(conn *net.UDPConn) datagramReader {
	raw, err := conn.SyscallConn()
	if err != nil {
		return nil
	}
	r := &rawReader{raw: raw}
	r.fn = r.once
	return r
}

// once makes one recvfrom into r.buf; it reports false (wait for the
// socket to be readable) when nothing is queued.
func (r *rawReader) once(fd uintptr) bool {
	var p unsafe.Pointer
	if len(r.buf) > 0 {
		p = unsafe.Pointer(&r.buf[0])
	}
	for {
		fromLen := uint32(unsafe.Sizeof(r.from))
		n, _, errno := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(p), uintptr(len(r.buf)), 0,
			uintptr(unsafe.Pointer(&r.from)), uintptr(unsafe.Pointer(&fromLen)))
		if errno == syscall.EINTR {
			continue
		}
		r.n, r.errno = int(n), errno
		return errno != syscall.EAGAIN
	}
}

func (r *rawReader) read(b []byte) (int, netip.AddrPort, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.buf = b
	err := r.raw.Read(r.fn)
	r.buf = nil
	if err != nil {
		return 0, netip.AddrPort{}, err // closed (net.ErrClosed) or past the deadline (a timeout)
	}
	if r.errno != 0 {
		return 0, netip.AddrPort{}, &net.OpError{Op: "read", Net: "udp", Err: os.NewSyscallError("recvfrom", r.errno)}
	}
	return r.n, sockaddrAddrPort(&r.from), nil
}

// sockaddrAddrPort converts a kernel socket address as the net package
// does: IPv4 as a 4-byte address, IPv6 as 16 bytes (an IPv4-mapped one
// stays mapped) with its scope as the zone.
func sockaddrAddrPort(sa *syscall.RawSockaddrAny) netip.AddrPort {
	switch sa.Addr.Family {
	case syscall.AF_INET:
		in := (*syscall.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(in.Addr), netPort(in.Port))
	case syscall.AF_INET6:
		in := (*syscall.RawSockaddrInet6)(unsafe.Pointer(sa))
		a := netip.AddrFrom16(in.Addr)
		if in.Scope_id != 0 {
			a = a.WithZone(zoneName(int(in.Scope_id)))
		}
		return netip.AddrPortFrom(a, netPort(in.Port))
	}
	return netip.AddrPort{}
}

// netPort reads a port stored in network byte order.
func netPort(p uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(&p))
	return uint16(b[0])<<8 | uint16(b[1])
}

// zoneName is the interface name of a scope, or its number, as net names it.
func zoneName(index int) string {
	if ifi, err := net.InterfaceByIndex(index); err == nil {
		return ifi.Name
	}
	return strconv.Itoa(index)
}
