//go:build linux && (amd64 || arm64)

package webrtc

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"
)

// The muxed port's reads are raw recvfrom calls that return what the net
// package's ReadFromUDPAddrPort returns for the same datagram: the bytes
// (cut to a short buffer, as a socket cuts them) and the source, IPv4 as 4
// bytes, IPv6 as 16, an IPv4 sender to a dual-stack socket as a mapped
// address; they wait in the poller for an empty socket, time out at the
// deadline, end with net.ErrClosed when the socket closes under a waiting
// reader, and allocate nothing.
func TestRawReader(t *testing.T) {
	tests := []struct {
		name       string
		network    string
		bind, from string // addresses the reader and the sender bind
	}{
		{"IPv4", "udp4", "127.0.0.1:0", "127.0.0.1:0"},
		{"IPv6", "udp6", "[::1]:0", "[::1]:0"},
		{"IPv4 to dual stack", "udp", "[::]:0", "127.0.0.1:0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rx, err := net.ListenUDP(tc.network, net.UDPAddrFromAddrPort(netip.MustParseAddrPort(tc.bind)))
			if err != nil {
				t.Skipf("no %s socket here: %v", tc.name, err)
			}
			ref, err := net.ListenUDP(tc.network, net.UDPAddrFromAddrPort(netip.MustParseAddrPort(tc.bind)))
			if err != nil {
				t.Fatal(err)
			}
			defer ref.Close()
			bc := newBatchConn(rx, true)
			if _, ok := bc.reader.(*rawReader); !ok {
				t.Fatalf("reader %T, want the raw reader", bc.reader)
			}
			tx, err := net.ListenUDP(map[bool]string{true: "udp4", false: "udp6"}[netip.MustParseAddrPort(tc.from).Addr().Is4()],
				net.UDPAddrFromAddrPort(netip.MustParseAddrPort(tc.from)))
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Close()
			to := func(c *net.UDPConn) netip.AddrPort {
				port := c.LocalAddr().(*net.UDPAddr).AddrPort().Port()
				return netip.AddrPortFrom(netip.MustParseAddrPort(tc.from).Addr(), port)
			}
			payload := bytes.Repeat([]byte("colony"), 200)
			for _, c := range []*net.UDPConn{rx, ref} {
				if _, err := tx.WriteToUDPAddrPort(payload, to(c)); err != nil {
					t.Fatal(err)
				}
			}
			_ = ref.SetReadDeadline(time.Now().Add(5 * time.Second))
			_ = bc.SetReadDeadline(time.Now().Add(5 * time.Second))
			want := make([]byte, 2000)
			wn, wfrom, err := ref.ReadFromUDPAddrPort(want)
			if err != nil {
				t.Fatal(err)
			}
			got := make([]byte, 2000)
			n, from, err := bc.ReadFromAddrPort(got)
			if err != nil || !bytes.Equal(got[:n], want[:wn]) || from != wfrom {
				t.Fatalf("read %d bytes from %v (%v), the net package's %d from %v", n, from, err, wn, wfrom)
			}

			// A short buffer gets the datagram's head.
			if _, err := tx.WriteToUDPAddrPort(payload, to(rx)); err != nil {
				t.Fatal(err)
			}
			n, _, err = bc.ReadFromAddrPort(got[:10])
			if err != nil || !bytes.Equal(got[:n], payload[:10]) {
				t.Fatalf("short read: %q, %v", got[:n], err)
			}

			// Waits in the poller, then allocates nothing.
			go func() {
				time.Sleep(20 * time.Millisecond)
				_, _ = tx.WriteToUDPAddrPort(payload, to(rx))
			}()
			if n, _, err := bc.ReadFromAddrPort(got); err != nil || n != len(payload) {
				t.Fatalf("waiting read: %d, %v", n, err)
			}
			allocs := testing.AllocsPerRun(100, func() {
				_, _ = tx.WriteToUDPAddrPort(payload, to(rx))
				if _, _, err := bc.ReadFromAddrPort(got); err != nil {
					t.Fatal(err)
				}
			})
			if allocs > 0 {
				t.Errorf("%.1f allocations per read", allocs)
			}

			// The deadline.
			_ = bc.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
			if _, _, err := bc.ReadFromAddrPort(got); !os.IsTimeout(err) {
				t.Fatalf("read past the deadline: %v, want a timeout", err)
			}

			// Close under a waiting reader.
			_ = bc.SetReadDeadline(time.Time{})
			errc := make(chan error, 1)
			go func() {
				_, _, err := bc.ReadFromAddrPort(got)
				errc <- err
			}()
			time.Sleep(20 * time.Millisecond)
			_ = bc.Close()
			select {
			case err := <-errc:
				if !errors.Is(err, net.ErrClosed) {
					t.Fatalf("read on close: %v, want net.ErrClosed", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("a waiting read did not end when the socket closed")
			}
		})
	}
}
