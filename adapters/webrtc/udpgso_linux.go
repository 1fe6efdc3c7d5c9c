//go:build linux && (amd64 || arm64)

package webrtc

import (
	"encoding/binary"
	"syscall"
	"unsafe"
)

// UDP generic segmentation offload (Linux 4.18+): one sendmsg of up to 64
// KB to one address, which the kernel (or the network card) cuts into
// datagrams of the size a control message names, so the stack is walked
// once per message instead of once per datagram.
const (
	solUDP     = 17  // SOL_UDP
	udpSegment = 103 // UDP_SEGMENT
)

// gsoCmsg is the control message "cut into segments of this size": a
// cmsghdr and a uint16, padded to CMSG_SPACE(2), 8-byte aligned.
type gsoCmsg struct {
	hdr  syscall.Cmsghdr
	data [8]byte
}

// gsoCmsgLen is CMSG_SPACE(2).
var gsoCmsgLen = syscall.CmsgSpace(2)

func (m *gsoCmsg) set(seg int) {
	m.hdr.Level = solUDP
	m.hdr.Type = udpSegment
	m.hdr.SetLen(syscall.CmsgLen(2))
	binary.NativeEndian.PutUint16(m.data[:], uint16(seg))
}

// probeGSO tells whether the socket takes UDP_SEGMENT (the kernel knows
// the option).
func probeGSO(raw syscall.RawConn) bool {
	ok := false
	_ = raw.Control(func(fd uintptr) {
		_, err := syscall.GetsockoptInt(int(fd), solUDP, udpSegment)
		ok = err == nil
	})
	return ok
}

var _ = [1]struct{}{}[unsafe.Sizeof(gsoCmsg{})-24] // CMSG_SPACE(2) on 64-bit Linux
