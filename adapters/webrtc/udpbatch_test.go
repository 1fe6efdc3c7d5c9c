package webrtc

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
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
// to two receivers, copied or filled into reserved storage, all arrive
// intact, each writer's in order.
func TestBatchConnDelivers(t *testing.T) {
	rx := []*net.UDPConn{listenLoopback(t), listenLoopback(t)}
	for _, r := range rx {
		_ = r.SetReadBuffer(8 << 20)
	}
	tx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	bc := newBatchConn(tx, true)
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
				switch i % 3 {
				case 0:
					_, err = bc.WriteToAddrPort(p, to)
				case 1:
					_, err = bc.WriteTo(p, net.UDPAddrFromAddrPort(to))
				default:
					var slots [][]byte
					var filled *sync.WaitGroup
					if slots, filled, err = bc.reserve(to, []int{len(p)}, nil); err == nil {
						copy(slots[0], p)
						filled.Done()
					}
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
				t.Fatalf("after %d packets: %v (full queue %d times, failed %d)", got, err, bc.waits.Load(), bc.failed.Load())
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
	bc := newBatchConn(tx, true)
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
	bc := newBatchConn(tx, true)
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

// gatedSender counts the datagrams it is given, each batch once let through.
type gatedSender struct {
	gate chan struct{}
	n    chan int
}

func (g gatedSender) send(_ *batchConn, d *datagrams) {
	<-g.gate
	g.n <- d.len()
}

// fullBatchConn returns a batchConn whose sender is held at its gate with
// one datagram, a full queue behind it, and one more writer waiting; the
// waiting write's result comes on wrote.
func fullBatchConn(t *testing.T) (bc *batchConn, g gatedSender, wrote chan error) {
	t.Helper()
	tx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	g = gatedSender{gate: make(chan struct{}), n: make(chan int, 10)}
	bc = newBatchConnWith(tx, g, true)
	to := netip.MustParseAddrPort("127.0.0.1:9")
	_, _ = bc.WriteToAddrPort([]byte{0}, to) // taken by the sender, which waits at the gate
	for queued := 1; queued > 0; time.Sleep(time.Millisecond) {
		bc.mu.Lock()
		queued = bc.fill.len()
		bc.mu.Unlock()
	}
	for range batchQueueMax {
		_, _ = bc.WriteToAddrPort([]byte{1}, to)
	}
	wrote = make(chan error)
	go func() {
		_, err := bc.WriteToAddrPort([]byte{2}, to)
		wrote <- err
	}()
	return bc, g, wrote
}

// TestBatchConnReserveHolds: the sender sends nothing queued after
// reserved storage until its writer has filled it, then all of it.
func TestBatchConnReserveHolds(t *testing.T) {
	rx := listenLoopback(t)
	to := rx.LocalAddr().(*net.UDPAddr).AddrPort()
	bc := newBatchConn(listenLoopback(t), true)
	defer bc.Close()
	slots, filled, err := bc.reserve(to, []int{5, 5}, nil)
	if err != nil || len(slots) != 2 || len(slots[0]) != 5 {
		t.Fatalf("reserve: %d slots, %v", len(slots), err)
	}
	if _, err := bc.WriteToAddrPort([]byte("after"), to); err != nil {
		t.Fatal(err)
	}
	_ = rx.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	buf := make([]byte, 100)
	if n, err := rx.Read(buf); err == nil {
		t.Fatalf("received %q before the reserved storage was filled", buf[:n])
	}
	copy(slots[0], "first")
	copy(slots[1], "secnd")
	filled.Done()
	_ = rx.SetReadDeadline(time.Now().Add(5 * time.Second))
	for _, want := range []string{"first", "secnd", "after"} {
		n, err := rx.Read(buf)
		if err != nil || string(buf[:n]) != want {
			t.Fatalf("received %q, %v; want %q", buf[:n], err, want)
		}
	}
}

// TestBatchConnFullQueueWaits: a writer that finds the queue full waits
// for the sender to take it, and nothing is lost.
func TestBatchConnFullQueueWaits(t *testing.T) {
	bc, g, wrote := fullBatchConn(t)
	defer bc.Close()
	select {
	case <-wrote:
		t.Fatal("a write to a full queue did not wait")
	case <-time.After(50 * time.Millisecond):
	}
	close(g.gate)
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	total := 0
	for total < batchQueueMax+2 {
		select {
		case n := <-g.n:
			total += n
		case <-time.After(5 * time.Second):
			t.Fatalf("%d datagrams sent, want %d", total, batchQueueMax+2)
		}
	}
	if bc.waits.Load() != 1 {
		t.Fatalf("waits = %d, want 1", bc.waits.Load())
	}
}

// TestBatchConnCloseReleasesWaiters: Close wakes a writer waiting on a
// full queue, which gets net.ErrClosed.
func TestBatchConnCloseReleasesWaiters(t *testing.T) {
	bc, g, wrote := fullBatchConn(t)
	time.Sleep(20 * time.Millisecond)
	closed := make(chan error)
	go func() { closed <- bc.Close() }()
	if err := <-wrote; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("waiting write: %v, want net.ErrClosed", err)
	}
	close(g.gate) // the sender finishes its batch and stops
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
}

// TestBatchConnHandOff: with one processor, handOff gives it to the
// sender until the sender has taken what is queued (the sender would
// otherwise not run before the caller blocks), returns at once while the
// sender is sending (the queue waits for it) or when nothing is queued,
// and after Close.
func TestBatchConnHandOff(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	g := gatedSender{gate: make(chan struct{}), n: make(chan int, 10)}
	bc := newBatchConnWith(listenLoopback(t), g, true)
	to := netip.MustParseAddrPort("127.0.0.1:9")
	state := func() (taken uint64, queued int) {
		bc.mu.Lock()
		defer bc.mu.Unlock()
		return bc.taken, bc.fill.len()
	}
	handOff := func(what string) {
		t.Helper()
		done := make(chan struct{})
		go func() { bc.handOff(); close(done) }()
		select {
		case <-done:
		case <-time.After(2 * time.Second):
			t.Fatalf("handOff %s: still waiting", what)
		}
	}

	handOff("with nothing queued")
	if _, err := bc.WriteToAddrPort([]byte{0}, to); err != nil {
		t.Fatal(err)
	}
	bc.handOff() // on this goroutine: the sender runs only if it yields
	if taken, queued := state(); taken != 1 || queued != 0 {
		t.Fatalf("after handOff: %d queues taken, %d datagrams queued; want the sender to have taken the one", taken, queued)
	}
	// The sender holds its batch at the gate: sending.
	if _, err := bc.WriteToAddrPort([]byte{1}, to); err != nil {
		t.Fatal(err)
	}
	handOff("while the sender sends")
	if taken, queued := state(); taken != 1 || queued != 1 {
		t.Fatalf("%d queues taken, %d datagrams queued; want the second left for the sender", taken, queued)
	}
	g.gate <- struct{}{}
	g.gate <- struct{}{}
	if a, b := <-g.n, <-g.n; a != 1 || b != 1 {
		t.Fatalf("batches of %d and %d datagrams, want 1 and 1", a, b)
	}
	close(g.gate)
	if err := bc.Close(); err != nil {
		t.Fatal(err)
	}
	handOff("after Close")
}
