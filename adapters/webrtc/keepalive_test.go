package webrtc

import (
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/ports"
	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
	pion "github.com/pion/webrtc/v4"
)

// stunCountNet gives a client's ICE agent sockets that count the STUN
// binding requests they receive.
type stunCountNet struct {
	*stdnet.Net
	requests *atomic.Int64
}

func (n stunCountNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := n.Net.ListenUDP(network, laddr)
	if err != nil {
		return nil, err
	}
	u, ok := c.(*net.UDPConn)
	if !ok {
		return c, nil
	}
	return &stunCountConn{UDPConn: u, requests: n.requests}, nil
}

// stunCountConn reads like the socket it wraps (ICE reads with
// ReadFromAddrPort, or ReadFrom), counting binding requests.
type stunCountConn struct {
	*net.UDPConn
	requests *atomic.Int64
}

func (c *stunCountConn) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	n, addr, err := c.UDPConn.ReadFromUDPAddrPort(b)
	// A binding request: type 0x0001, then the magic cookie at byte 4.
	if err == nil && n >= 20 && binary.BigEndian.Uint16(b) == 0x0001 && binary.BigEndian.Uint32(b[4:]) == 0x2112A442 {
		c.requests.Add(1)
	}
	return n, addr, err
}

func (c *stunCountConn) WriteToAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	return c.UDPConn.WriteToUDPAddrPort(b, addr)
}

func (c *stunCountConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, addr, err := c.ReadFromAddrPort(b)
	if err != nil {
		return n, nil, err
	}
	return n, net.UDPAddrFromAddrPort(addr), nil
}

// TestServerSendsNoKeepalives: once connected, the server sends a viewer
// no ICE checks of its own (pion's default is one every 2 s per
// session): the viewer's own checks and RTCP keep the session, which is
// still up after more than two of pion's intervals without media.
func TestServerSendsNoKeepalives(t *testing.T) {
	st := h264Stream(t, loadH264Fixture(t, 1))
	play := fakePlayback{play: func(context.Context, ports.PlayRequest) (*media.Stream, error) { return st, nil }}
	s, hs := newTestServer(t, Config{UDPMuxPort: freeUDPPort(t)}, fakeIngest{publish: noPublish}, play)

	n, err := stdnet.NewNet()
	if err != nil {
		t.Fatal(err)
	}
	var requests atomic.Int64
	se := clientSettings()
	se.SetNet(stunCountNet{Net: n, requests: &requests})
	pc := connectVideoViewer(t, se, hs.URL+"/LiveApp/whep/cam1")
	time.Sleep(500 * time.Millisecond) // the checks of the connecting phase are over
	before := requests.Load()
	time.Sleep(4500 * time.Millisecond)
	if got := requests.Load() - before; got != 0 {
		t.Errorf("the server sent %d binding requests to a connected viewer in 4.5 s, want none", got)
	}
	if pc.ConnectionState() != pion.PeerConnectionStateConnected || s.Viewers(testKey) != 1 {
		t.Fatalf("after 4.5 s without media: client %s, server viewers %d; want connected, 1", pc.ConnectionState(), s.Viewers(testKey))
	}
}
