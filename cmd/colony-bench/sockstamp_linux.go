package main

import (
	"encoding/binary"
	"net"
	"net/netip"
	"syscall"
	"unsafe"

	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
)

// stampNet is the network pion's ICE agent gathers host candidates on: the
// standard one, with UDP sockets that note the kernel receive time of each
// RTP packet in log.
type stampNet struct {
	*stdnet.Net
	log *arrivalLog
}

// newStampNet returns the network for a viewer's PeerConnection: base
// (shared by the viewers), with sockets that note arrivals in log.
func newStampNet(base *stdnet.Net, log *arrivalLog) transport.Net {
	return &stampNet{Net: base, log: log}
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
	return &stampConn{UDPConn: u, log: n.log}, nil
}

// enableRxTimestamps asks the kernel for SO_TIMESTAMPNS: each datagram's
// receive time (CLOCK_REALTIME, the clock of time.Now and so of the
// publisher's stamps) comes with it as an SCM_TIMESTAMPNS control message.
func enableRxTimestamps(u *net.UDPConn) error {
	raw, err := u.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1)
	}); err != nil {
		return err
	}
	return serr
}

// stampConn is a UDP socket with SO_TIMESTAMPNS on whose reads note RTP
// packets' receive times. ICE reads host candidates with ReadFromAddrPort
// (this type implements ice.AddrPortReaderWriter) or else ReadFrom; both,
// and ReadFromUDP, go through ReadMsgUDPAddrPort. The other methods are
// the socket's own.
type stampConn struct {
	*net.UDPConn
	log *arrivalLog
}

// oobSize holds one SCM_TIMESTAMPNS message, with room to spare.
const oobSize = 64

func (c *stampConn) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	var oob [oobSize]byte
	n, oobn, flags, addr, err := c.UDPConn.ReadMsgUDPAddrPort(b, oob[:])
	if err == nil && flags&syscall.MSG_CTRUNC == 0 {
		if ns, ok := parseRxTimestamp(oob[:oobn]); ok {
			c.log.record(b[:n], ns)
		}
	}
	return n, addr, err
}

func (c *stampConn) WriteToAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	return c.UDPConn.WriteToUDPAddrPort(b, addr)
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
// control data and returns its time in ns since the epoch. It reads the
// platform's struct cmsghdr and struct timespec field by field (the buffer
// need not be aligned for them).
func parseRxTimestamp(oob []byte) (int64, bool) {
	var h syscall.Cmsghdr
	var ts syscall.Timespec
	hdrLen := syscall.CmsgLen(0) // the header, aligned: where the data begins
	for len(oob) >= hdrLen {
		l := nativeUint(oob, unsafe.Offsetof(h.Len), unsafe.Sizeof(h.Len))
		level := int32(nativeUint(oob, unsafe.Offsetof(h.Level), unsafe.Sizeof(h.Level)))
		typ := int32(nativeUint(oob, unsafe.Offsetof(h.Type), unsafe.Sizeof(h.Type)))
		if l < uint64(hdrLen) || l > uint64(len(oob)) {
			return 0, false
		}
		data := oob[hdrLen:l]
		if level == syscall.SOL_SOCKET && typ == syscall.SCM_TIMESTAMPNS && uintptr(len(data)) >= unsafe.Sizeof(ts) {
			sec := int64(nativeUint(data, unsafe.Offsetof(ts.Sec), unsafe.Sizeof(ts.Sec)))
			nsec := int64(nativeUint(data, unsafe.Offsetof(ts.Nsec), unsafe.Sizeof(ts.Nsec)))
			if unsafe.Sizeof(ts.Sec) == 4 { // sign-extend a 32-bit time_t
				sec, nsec = int64(int32(sec)), int64(int32(nsec))
			}
			return sec*1e9 + nsec, true
		}
		next := (int(l) + cmsgAlign - 1) &^ (cmsgAlign - 1)
		if next >= len(oob) {
			break
		}
		oob = oob[next:]
	}
	return 0, false
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
