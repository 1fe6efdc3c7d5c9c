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
	// batchQueueMax bounds the datagrams waiting for the sender goroutine
	// (2.5 MB of 1200-byte packets, a few milliseconds of sending). A
	// writer that finds the queue full waits until the sender takes it,
	// as a write to a full socket buffer waits: the queue drains at the
	// machine's sending rate, which no viewer can slow down (UDP), so no
	// viewer waits for another, and writers are paced to what the machine
	// can send. (Dropping instead was measured to collapse under CPU
	// starvation: lost packets bring NACKs and keyframe requests, which
	// bring more packets.)
	batchQueueMax = 2048
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
	v4     bool           // an IPv4 socket
	local  netip.AddrPort // the address it is bound to
	sender batchSender
	reader datagramReader // nil: the socket's own ReadFromUDPAddrPort

	mu      sync.Mutex
	fill    *datagrams // what writers append to
	idle    bool       // the sender waits for wake
	sending bool       // the sender has taken a queue and not yet come back for the next
	taken   uint64     // queues the sender has taken
	closed  bool
	room    *sync.Cond // on mu: the sender took a full queue, or Close
	took    *sync.Cond // on mu: the sender took a queue, or Close

	wake    chan struct{}
	done    chan struct{}
	stopped chan struct{}
	waits   atomic.Uint64 // writes that found the queue full
	failed  atomic.Uint64 // datagrams the kernel refused
	sent    atomic.Uint64 // datagrams sent
	msgs    atomic.Uint64 // messages sent (a GSO message holds several datagrams)
	gso     atomic.Bool   // the sender uses UDP GSO
}

// datagrams are queued packets, copied into reused 64 KB chunks (a
// growing contiguous buffer would copy itself on every growth), or
// written there by their writer (reserve).
type datagrams struct {
	chunks [][]byte
	cur    int // the chunk appended to
	pkts   [][]byte
	addrs  []netip.AddrPort
	// writing counts the writers filling storage they reserved outside
	// the lock; the sender waits for them before sending.
	writing sync.WaitGroup
}

const chunkSize = 64 << 10

// reserve appends a datagram of n bytes for addr and returns its storage.
func (d *datagrams) reserve(n int, addr netip.AddrPort) []byte {
	if len(d.chunks) == 0 {
		d.chunks = append(d.chunks, make([]byte, 0, chunkSize))
	}
	c := d.chunks[d.cur]
	if len(c)+n > cap(c) {
		d.cur++
		if d.cur == len(d.chunks) {
			d.chunks = append(d.chunks, make([]byte, 0, max(chunkSize, n)))
		}
		c = d.chunks[d.cur]
	}
	start := len(c)
	c = c[:start+n]
	d.chunks[d.cur] = c
	p := c[start:len(c):len(c)]
	d.pkts = append(d.pkts, p)
	d.addrs = append(d.addrs, addr)
	return p
}

func (d *datagrams) add(b []byte, addr netip.AddrPort) { copy(d.reserve(len(b), addr), b) }

func (d *datagrams) len() int { return len(d.pkts) }

func (d *datagrams) packet(i int) []byte { return d.pkts[i] }

func (d *datagrams) reset() {
	for i := 0; i <= d.cur && i < len(d.chunks); i++ {
		d.chunks[i] = d.chunks[i][:0]
	}
	clear(d.pkts) // no references kept into reused chunks beyond their use
	d.cur, d.pkts, d.addrs = 0, d.pkts[:0], d.addrs[:0]
}

// batchSender sends queued datagrams; the platform's is in udpbatch_*.go.
type batchSender interface {
	send(c *batchConn, d *datagrams)
}

// newBatchConn wraps conn; its sender goroutine runs until Close. With
// gso, the sender uses UDP GSO where the platform has it.
func newBatchConn(conn *net.UDPConn, gso bool) *batchConn { return newBatchConnWith(conn, nil, gso) }

// newBatchConnWith uses sender (nil: the platform's).
func newBatchConnWith(conn *net.UDPConn, sender batchSender, gso bool) *batchConn {
	c := &batchConn{
		UDPConn: conn,
		fill:    &datagrams{},
		wake:    make(chan struct{}, 1),
		done:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	if a, ok := conn.LocalAddr().(*net.UDPAddr); ok {
		c.v4 = a.IP.To4() != nil
		c.local = a.AddrPort()
	}
	c.room = sync.NewCond(&c.mu)
	c.took = sync.NewCond(&c.mu)
	c.sender = sender
	if c.sender == nil {
		c.sender = newBatchSender(c, gso)
	}
	c.reader = newDatagramReader(c.UDPConn)
	go c.run()
	return c
}

// localAddr is the address the socket is bound to.
func (c *batchConn) localAddr() netip.AddrPort { return c.local }

// WriteTo queues b for addr, a *net.UDPAddr.
func (c *batchConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	a, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, &net.OpError{Op: "write", Net: "udp", Addr: addr, Err: errUnsupportedAddr}
	}
	return c.WriteToAddrPort(b, a.AddrPort())
}

// WriteToAddrPort queues b for addr. It waits only while the queue is
// full (batchQueueMax).
func (c *batchConn) WriteToAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	q, err := c.lock()
	if err != nil {
		return 0, err
	}
	q.add(b, addr)
	c.unlock()
	return len(b), nil
}

// reserve queues datagrams of the given sizes for addr and appends their
// storage to slots, for the caller to fill outside the queue's lock; the
// sender sends none of the queue until the caller calls filled.Done
// (once, even when it fills nothing). Like WriteToAddrPort, it waits only
// while the queue is full.
func (c *batchConn) reserve(addr netip.AddrPort, sizes []int, slots [][]byte) (out [][]byte, filled *sync.WaitGroup, err error) {
	q, err := c.lock()
	if err != nil {
		return slots, nil, err
	}
	for _, n := range sizes {
		slots = append(slots, q.reserve(n, addr))
	}
	q.writing.Add(1)
	c.unlock()
	return slots, &q.writing, nil
}

// lock takes the queue to append to, once it has room.
func (c *batchConn) lock() (*datagrams, error) {
	c.mu.Lock()
	if !c.closed && c.fill.len() >= batchQueueMax {
		c.waits.Add(1)
		for !c.closed && c.fill.len() >= batchQueueMax {
			c.room.Wait()
		}
	}
	if c.closed {
		c.mu.Unlock()
		return nil, net.ErrClosed
	}
	return c.fill, nil
}

// unlock releases the queue and wakes the sender if it waits.
func (c *batchConn) unlock() {
	wake := c.idle
	c.idle = false
	c.mu.Unlock()
	if wake {
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
}

// handOff lets the sender take what is queued, and returns once it has;
// at once when nothing is queued or the sender is sending already (on
// another processor). A writer that queues for many viewers in turn
// calls it every few of them: with one Go processor (the governor's
// choice under a core of load) the sender otherwise runs only once the
// writer blocks, and every viewer waits for the last one's packets.
// runtime.Gosched would put the writer on the global run queue, behind
// every runnable goroutine: while a crowd of viewers joins, dozens of
// handshakes, each running until it blocks, for every few viewers served.
// Here the processor goes to the sender, which hands it back when it has
// sent: the writer waits for one sendmmsg.
func (c *batchConn) handOff() {
	c.mu.Lock()
	if c.closed || c.sending || c.fill.len() == 0 {
		c.mu.Unlock()
		return
	}
	gen := c.taken
	if c.idle {
		c.idle = false
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
	for c.taken == gen && !c.closed {
		c.took.Wait()
	}
	c.mu.Unlock()
}

// datagramReader reads one datagram from the socket; the platform's is in
// udpbatch_*.go.
type datagramReader interface {
	read(b []byte) (int, netip.AddrPort, error)
}

// ReadFromAddrPort reads one datagram (pion's allocation-free path).
func (c *batchConn) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	if c.reader != nil {
		return c.reader.read(b)
	}
	return c.ReadFromUDPAddrPort(b)
}

// run sends what writers queue until Close.
func (c *batchConn) run() {
	defer close(c.stopped)
	drain := &datagrams{}
	for {
		c.mu.Lock()
		c.sending = false
		for c.fill.len() == 0 {
			c.idle = true
			c.mu.Unlock()
			select {
			case <-c.wake:
			case <-c.done:
				return
			}
			c.mu.Lock()
		}
		full := c.fill.len() >= batchQueueMax
		c.fill, drain = drain, c.fill
		c.sending = true
		c.taken++
		c.mu.Unlock()
		if full {
			c.room.Broadcast()
		}
		c.took.Broadcast()
		drain.writing.Wait() // storage reserved is written
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
	c.room.Broadcast()
	c.took.Broadcast()
	close(c.done)
	err := c.UDPConn.Close() // unblocks a sender waiting for room in the socket
	<-c.stopped
	return err
}

// plainSender sends one datagram per system call (platforms without sendmmsg).
type plainSender struct{}

func (plainSender) send(c *batchConn, d *datagrams) {
	for i := range d.len() {
		if _, err := c.WriteToUDPAddrPort(d.packet(i), d.addrs[i]); err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			c.failed.Add(1)
			continue
		}
		c.sent.Add(1)
		c.msgs.Add(1)
	}
}
