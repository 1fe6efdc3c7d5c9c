package webrtc

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

func listenLoopback(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestBatchConnDelivers: packets written concurrently by several writers
// to two receivers all arrive intact, each writer's in order.
func TestBatchConnDelivers(t *testing.T) {
	rx := []*net.UDPConn{listenLoopback(t), listenLoopback(t)}
	for _, r := range rx {
		_ = r.SetReadBuffer(8 << 20)
	}
	tx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	bc := newBatchConn(tx)
	defer bc.Close()

	const writers, each = 4, 300 // more than batchMax per writer
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			to := rx[w%2].LocalAddr().(*net.UDPAddr).AddrPort()
			for i := range each {
				p := bytes.Repeat([]byte{byte(w)}, 100+i)
				copy(p, fmt.Sprintf("%d/%d", w, i))
				var err error
				if i%2 == 0 {
					_, err = bc.WriteToAddrPort(p, to)
				} else {
					_, err = bc.WriteTo(p, net.UDPAddrFromAddrPort(to))
				}
				if err != nil {
					t.Error(err)
					return
				}
				if i%50 == 0 {
					time.Sleep(time.Millisecond) // let the sender go idle and wake
				}
			}
		}()
	}
	wg.Wait()

	next := make([]int, writers)
	buf := make([]byte, 2000)
	for _, r := range rx {
		_ = r.SetReadDeadline(time.Now().Add(5 * time.Second))
		for got := 0; got < writers/2*each; got++ {
			n, err := r.Read(buf)
			if err != nil {
				t.Fatalf("after %d packets: %v (dropped %d, failed %d)", got, err, bc.dropped.Load(), bc.failed.Load())
			}
			var w, i int
			if _, err := fmt.Sscanf(string(buf[:n]), "%d/%d", &w, &i); err != nil {
				t.Fatalf("bad packet %q", buf[:12])
			}
			if i != next[w] || n != 100+i || buf[n-1] != byte(w) {
				t.Fatalf("writer %d: packet %d (%d bytes), want %d", w, i, n, next[w])
			}
			next[w]++
		}
	}
}

func TestBatchConnClose(t *testing.T) {
	tx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	bc := newBatchConn(tx)
	if err := bc.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := bc.WriteToAddrPort([]byte{1}, netip.MustParseAddrPort("127.0.0.1:9")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write after close: %v", err)
	}
	if err := bc.Close(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("second close: %v", err)
	}
}

// TestBatchConnRefusesOtherFamily: an IPv6 destination on an IPv4 socket
// is counted as failed and does not stop the packets after it.
func TestBatchConnRefusesOtherFamily(t *testing.T) {
	rx := listenLoopback(t)
	tx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	bc := newBatchConn(tx)
	defer bc.Close()
	_, _ = bc.WriteToAddrPort([]byte("lost"), netip.MustParseAddrPort("[2001:db8::1]:9"))
	_, _ = bc.WriteToAddrPort([]byte("kept"), rx.LocalAddr().(*net.UDPAddr).AddrPort())
	_ = rx.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 100)
	n, err := rx.Read(buf)
	if err != nil || string(buf[:n]) != "kept" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	if f := bc.failed.Load(); f != 1 {
		t.Fatalf("failed = %d, want 1", f)
	}
}
