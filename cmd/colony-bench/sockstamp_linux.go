package main

import (
	"encoding/binary"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"unsafe"

	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
)

// stampNet is the network pion's ICE agent gathers host candidates on: the
// standard one, with UDP sockets that note the kernel receive time of each
// RTP packet in log, and optionally take UDP GRO.
type stampNet struct {
	*stdnet.Net
	log *arrivalLog
	gro bool
}

// newStampNet returns the network for a viewer's PeerConnection: base
// (shared by the viewers), with sockets that note arrivals in log. With
// gro the sockets ask for UDP GRO (see groReader).
func newStampNet(base *stdnet.Net, log *arrivalLog, gro bool) transport.Net {
	return &stampNet{Net: base, log: log, gro: gro}
}

// ListenUDP is what ICE opens host candidates with (listenUDPInPortRange
// in pion/ice). A socket that cannot have receive timestamps is returned
// as it is.
func (n *stampNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := n.Net.ListenUDP(network, laddr)
	if err != nil {
		return nil, err
	}
	u, ok := c.(*net.UDPConn)
	if !ok || enableRxTimestamps(u) != nil {
		return c, nil
	}
	sc := &stampConn{UDPConn: u, log: n.log}
	if n.gro && setSockoptInt(u, solUDP, udpGRO, 1) == nil {
		sc.gro = &groReader{buf: make([]byte, groBufSize)}
	}
	return sc, nil
}

// Linux's UDP socket option that lets the kernel hand a socket several
// datagrams of one flow as one, with their size in a control message: a
// sender's UDP_SEGMENT (GSO) batch arrives whole on loopback.
const (
	solUDP = 17  // SOL_UDP
	udpGRO = 104 // UDP_GRO
)

// groBufSize holds the largest coalesced read (a GSO batch is at most 64 KiB).
const groBufSize = 1 << 16

// setSockoptInt sets an integer socket option on u.
func setSockoptInt(u *net.UDPConn, level, opt, v int) error {
	raw, err := u.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), level, opt, v)
	}); err != nil {
		return err
	}
	return serr
}

// enableRxTimestamps asks the kernel for SO_TIMESTAMPNS: each datagram's
// receive time (CLOCK_REALTIME, the clock of time.Now and so of the
// publisher's stamps) comes with it as an SCM_TIMESTAMPNS control message.
func enableRxTimestamps(u *net.UDPConn) error {
	return setSockoptInt(u, syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1)
}

// stampConn is a UDP socket with SO_TIMESTAMPNS on whose reads note RTP
// packets' receive times. ICE reads host candidates with ReadFromAddrPort
// (this type implements ice.AddrPortReaderWriter) or else ReadFrom; both,
// and ReadFromUDP, go through ReadMsgUDPAddrPort. The other methods are
// the socket's own.
type stampConn struct {
	*net.UDPConn
	log *arrivalLog
	gro *groReader // nil: the socket reads one datagram at a time
}

// groReader splits the coalesced reads of a socket with UDP GRO back into
// the datagrams the sender sent, so that pion sees them one by one as
// without GRO. A coalesced read's datagrams are all gsoSize bytes but the
// last, which may be shorter; they share one receive time.
type groReader struct {
	mu   sync.Mutex
	buf  []byte
	rest []byte // datagrams read and not yet returned
	seg  int    // their size (the last may be shorter)
	from netip.AddrPort
}

// oobSize holds an SCM_TIMESTAMPNS and a UDP_GRO message, with room to spare.
const oobSize = 128

func (c *stampConn) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	if c.gro != nil {
		return c.readGRO(b)
	}
	var oob [oobSize]byte
	n, oobn, flags, addr, err := c.UDPConn.ReadMsgUDPAddrPort(b, oob[:])
	if err == nil && flags&syscall.MSG_CTRUNC == 0 {
		if ns, ok := parseRxTimestamp(oob[:oobn]); ok {
			c.log.record(b[:n], ns)
		}
	}
	return n, addr, err
}

// readGRO returns the next datagram of the last coalesced read, reading
// again when none is left. A datagram longer than b is cut to it, as the
// socket would cut it.
func (c *stampConn) readGRO(b []byte) (int, netip.AddrPort, error) {
	g := c.gro
	g.mu.Lock()
	defer g.mu.Unlock()
	for len(g.rest) == 0 {
		var oob [oobSize]byte
		n, oobn, flags, addr, err := c.UDPConn.ReadMsgUDPAddrPort(g.buf, oob[:])
		if err != nil {
			return 0, addr, err
		}
		if flags&syscall.MSG_CTRUNC != 0 {
			// Without the segment size the datagrams cannot be told
			// apart: drop them, as a full socket would, and read on.
			continue
		}
		g.rest, g.seg, g.from = g.buf[:n], n, addr
		ctl := parseControl(oob[:oobn])
		if ctl.gsoSize > 0 && ctl.gsoSize < n {
			g.seg = ctl.gsoSize
		}
		if ctl.rxOK {
			for off := 0; off < n; off += g.seg {
				c.log.record(g.rest[off:min(off+g.seg, n)], ctl.rxNS)
			}
		}
	}
	k := min(g.seg, len(g.rest))
	n := copy(b, g.rest[:k])
	g.rest = g.rest[k:]
	return n, g.from, nil
}

// WriteToAddrPort and WriteTo send b, noting when a DTLS datagram is sent
// (just before the system call).
func (c *stampConn) WriteToAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	c.log.sent(b)
	return c.UDPConn.WriteToUDPAddrPort(b, addr)
}

func (c *stampConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	c.log.sent(b)
	return c.UDPConn.WriteTo(b, addr)
}

func (c *stampConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, addr, err := c.ReadFromUDP(b)
	if addr == nil {
		return n, nil, err // not a nil *net.UDPAddr in an interface
	}
	return n, addr, err
}

func (c *stampConn) ReadFromUDP(b []byte) (int, *net.UDPAddr, error) {
	n, addr, err := c.ReadFromAddrPort(b)
	if err != nil {
		return n, nil, err
	}
	return n, net.UDPAddrFromAddrPort(addr), nil
}

// parseRxTimestamp finds the SCM_TIMESTAMPNS message in a socket read's
// control data and returns its time in ns since the epoch.
func parseRxTimestamp(oob []byte) (int64, bool) {
	c := parseControl(oob)
	return c.rxNS, c.rxOK
}

// control is what a socket read's control data says.
type control struct {
	rxNS    int64 // SCM_TIMESTAMPNS: the receive time, ns since the epoch
	rxOK    bool
	gsoSize int // UDP_GRO: the size of the coalesced datagrams; 0: none
}

// parseControl reads the SCM_TIMESTAMPNS and UDP_GRO messages wherever
// they are in oob, and nothing else. It reads the platform's struct
// cmsghdr and struct timespec field by field (the buffer need not be
// aligned for them); a malformed header ends the walk.
func parseControl(oob []byte) control {
	var c control
	var h syscall.Cmsghdr
	var ts syscall.Timespec
	hdrLen := syscall.CmsgLen(0) // the header, aligned: where the data begins
	for len(oob) >= hdrLen {
		l := nativeUint(oob, unsafe.Offsetof(h.Len), unsafe.Sizeof(h.Len))
		level := int32(nativeUint(oob, unsafe.Offsetof(h.Level), unsafe.Sizeof(h.Level)))
		typ := int32(nativeUint(oob, unsafe.Offsetof(h.Type), unsafe.Sizeof(h.Type)))
		if l < uint64(hdrLen) || l > uint64(len(oob)) {
			return c
		}
		data := oob[hdrLen:l]
		switch {
		case level == syscall.SOL_SOCKET && typ == syscall.SCM_TIMESTAMPNS && uintptr(len(data)) >= unsafe.Sizeof(ts):
			sec := int64(nativeUint(data, unsafe.Offsetof(ts.Sec), unsafe.Sizeof(ts.Sec)))
			nsec := int64(nativeUint(data, unsafe.Offsetof(ts.Nsec), unsafe.Sizeof(ts.Nsec)))
			if unsafe.Sizeof(ts.Sec) == 4 { // sign-extend a 32-bit time_t
				sec, nsec = int64(int32(sec)), int64(int32(nsec))
			}
			c.rxNS, c.rxOK = sec*1e9+nsec, true
		case level == solUDP && typ == udpGRO && len(data) >= 4:
			c.gsoSize = int(int32(binary.NativeEndian.Uint32(data)))
		}
		next := (int(l) + cmsgAlign - 1) &^ (cmsgAlign - 1)
		if next >= len(oob) {
			break
		}
		oob = oob[next:]
	}
	return c
}

// cmsgAlign is Linux's CMSG_ALIGN unit, sizeof(long).
const cmsgAlign = int(unsafe.Sizeof(uintptr(0)))

// nativeUint reads a native-endian unsigned integer of size bytes at off.
func nativeUint(b []byte, off, size uintptr) uint64 {
	switch size {
	case 8:
		return binary.NativeEndian.Uint64(b[off:])
	case 4:
		return uint64(binary.NativeEndian.Uint32(b[off:]))
	}
	return 0
}
