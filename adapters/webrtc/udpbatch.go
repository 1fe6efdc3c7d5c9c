package webrtc

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

const (
	// batchMax is how many datagrams one system call sends at most.
	batchMax = 64
	// batchQueueMax bounds the datagrams waiting for the sender goroutine;
	// past it a datagram is dropped, as a full socket buffer would, so
	// that a writer never waits (about 10 MB of 1200-byte packets).
	batchQueueMax = 8192
)

var errUnsupportedAddr = errors.New("address family does not match the socket")

// batchConn is a UDP socket whose writes are queued and sent by one
// goroutine, many datagrams per system call (sendmmsg where the platform
// has it) instead of one: a muxed port carries every viewer's packets, so
// a frame written to 200 viewers is a few dozen calls, not 1400. Nothing
// waits for a batch to fill: the sender sends what is queued as soon as it
// is woken, so the queue only grows while the sender is busy (under
// load), which is when batching pays. Reads go straight to the socket.
//
// It implements net.PacketConn and pion's ice.AddrPortReaderWriter.
type batchConn struct {
	*net.UDPConn
	v4     bool // an IPv4 socket
	sender batchSender

	mu     sync.Mutex
	fill   *datagrams // what writers append to
	idle   bool       // the sender waits for wake
	closed bool

	wake    chan struct{}
	done    chan struct{}
	stopped chan struct{}
	dropped atomic.Uint64 // datagrams dropped on a full queue
	failed  atomic.Uint64 // datagrams the kernel refused
}

// datagrams are queued packets, stored back to back in data.
type datagrams struct {
	data  []byte
	ends  []int // end of each packet in data
	addrs []netip.AddrPort
}

func (d *datagrams) packet(i int) []byte {
	start := 0
	if i > 0 {
		start = d.ends[i-1]
	}
	return d.data[start:d.ends[i]]
}

func (d *datagrams) reset() {
	d.data, d.ends, d.addrs = d.data[:0], d.ends[:0], d.addrs[:0]
}

// batchSender sends queued datagrams; the platform's is in udpbatch_*.go.
type batchSender interface {
	send(c *batchConn, d *datagrams)
}

// newBatchConn wraps conn; its sender goroutine runs until Close.
func newBatchConn(conn *net.UDPConn) *batchConn {
	c := &batchConn{
		UDPConn: conn,
		fill:    &datagrams{},
		wake:    make(chan struct{}, 1),
		done:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	if a, ok := conn.LocalAddr().(*net.UDPAddr); ok && a.IP.To4() != nil {
		c.v4 = true
	}
	c.sender = newBatchSender(c)
	go c.run()
	return c
}

// WriteTo queues b for addr, a *net.UDPAddr.
func (c *batchConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	a, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, &net.OpError{Op: "write", Net: "udp", Addr: addr, Err: errUnsupportedAddr}
	}
	return c.WriteToAddrPort(b, a.AddrPort())
}

// WriteToAddrPort queues b for addr. It never blocks: a datagram that
// finds the queue full is dropped.
func (c *batchConn) WriteToAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return 0, net.ErrClosed
	}
	d := c.fill
	if len(d.ends) >= batchQueueMax {
		c.mu.Unlock()
		c.dropped.Add(1)
		return len(b), nil
	}
	d.data = append(d.data, b...)
	d.ends = append(d.ends, len(d.data))
	d.addrs = append(d.addrs, addr)
	wake := c.idle
	c.idle = false
	c.mu.Unlock()
	if wake {
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
	return len(b), nil
}

// ReadFromAddrPort reads one datagram (pion's allocation-free path).
func (c *batchConn) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	return c.ReadFromUDPAddrPort(b)
}

// run sends what writers queue until Close.
func (c *batchConn) run() {
	defer close(c.stopped)
	drain := &datagrams{}
	for {
		c.mu.Lock()
		for len(c.fill.ends) == 0 {
			c.idle = true
			c.mu.Unlock()
			select {
			case <-c.wake:
			case <-c.done:
				return
			}
			c.mu.Lock()
		}
		c.fill, drain = drain, c.fill
		c.mu.Unlock()
		c.sender.send(c, drain)
		drain.reset()
	}
}

// Close stops the sender (what is still queued is dropped) and closes the socket.
func (c *batchConn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return net.ErrClosed
	}
	c.closed = true
	c.mu.Unlock()
	close(c.done)
	err := c.UDPConn.Close() // unblocks a sender waiting for room in the socket
	<-c.stopped
	return err
}

// plainSender sends one datagram per system call (platforms without sendmmsg).
type plainSender struct{}

func (plainSender) send(c *batchConn, d *datagrams) {
	for i := range d.ends {
		if _, err := c.WriteToUDPAddrPort(d.packet(i), d.addrs[i]); err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			c.failed.Add(1)
		}
	}
}
