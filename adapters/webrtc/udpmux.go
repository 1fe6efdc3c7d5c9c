package webrtc

import (
	"fmt"
	"net"

	"github.com/pion/ice/v4"
	"github.com/pion/logging"
)

// listenUDPMux listens on port at each local address ICE may use (as
// pion's NewMultiUDPMuxFromPort does: interfaces up, loopback only when
// configured, IPFilter) and serves every PeerConnection over those
// sockets. With batch, writes go through batchConn (sendmmsg), with gso
// also UDP GSO where the kernel has it; those sockets are returned too.
func listenUDPMux(cfg Config, port int, batch, gso bool, log logging.LeveledLogger) (ice.UDPMux, []*batchConn, error) {
	ips, err := muxAddrs(cfg)
	if err != nil {
		return nil, nil, err
	}
	if len(ips) == 0 {
		return nil, nil, fmt.Errorf("no local address to listen on")
	}
	var batched []*batchConn
	conns := make([]net.PacketConn, 0, len(ips))
	closeAll := func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}
	for _, ip := range ips {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip, Port: port})
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		// Room for bursts (a keyframe to every viewer; publishers' media).
		_ = c.SetWriteBuffer(4 << 20)
		_ = c.SetReadBuffer(4 << 20)
		if batch {
			b := newBatchConn(c, gso)
			conns = append(conns, b)
			batched = append(batched, b)
		} else {
			conns = append(conns, c)
		}
	}
	muxes := make([]ice.UDPMux, 0, len(conns))
	for _, c := range conns {
		muxes = append(muxes, ice.NewUDPMuxDefault(ice.UDPMuxParams{Logger: log, UDPConn: c}))
	}
	return ice.NewMultiUDPMuxDefault(muxes...), batched, nil
}

// muxAddrs lists the local unicast addresses to listen on.
func muxAddrs(cfg Config) ([]net.IP, error) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("list interfaces: %w", err)
	}
	var ips []net.IP
	for _, iface := range ifaces {
		if iface.Flags&net.FlagUp == 0 || (iface.Flags&net.FlagLoopback != 0 && !cfg.IncludeLoopback) {
			continue
		}
		addrs, err := iface.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			n, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip := n.IP
			switch {
			case ip.IsLoopback() && !cfg.IncludeLoopback,
				ip.IsLinkLocalUnicast(), ip.IsMulticast(), ip.IsUnspecified():
				continue
			case cfg.IPFilter != nil && !cfg.IPFilter(ip):
				continue
			}
			ips = append(ips, ip)
		}
	}
	return ips, nil
}
