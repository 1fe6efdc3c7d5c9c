//go:build linux && (amd64 || arm64)

package webrtc

import (
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// heldSender holds the first batch at its gate, so that what is written
// meanwhile makes the next batch.
type heldSender struct {
	gate chan struct{}
	batchSender
}

func (h heldSender) send(c *batchConn, d *datagrams) {
	<-h.gate
	h.batchSender.send(c, d)
}

// eioOnGSO fails the first GSO message of a call with EIO, as the kernel
// does on a route whose device cannot segment, and sends the messages
// before it.
func eioOnGSO(fd uintptr, hdrs *mmsghdr, n int) (int, syscall.Errno) {
	for j, h := range unsafe.Slice(hdrs, n) {
		if h.hdr.Control != nil {
			if j == 0 {
				return 0, syscall.EIO
			}
			return sysSendmmsgCall(fd, hdrs, j)
		}
	}
	return sysSendmmsgCall(fd, hdrs, n)
}

// TestBatchConnGSO: frames of equal-size packets ended by a shorter one,
// written to three receivers, arrive as the same datagrams in the same
// order, whether they go as GSO messages, as GSO refused by the kernel
// and sent again one by one, or without GSO.
func TestBatchConnGSO(t *testing.T) {
	probe := listenLoopback(t)
	raw, err := probe.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	if !probeGSO(raw) {
		t.Skip("the kernel has no UDP GSO")
	}
	tests := []struct {
		name    string
		gso     bool
		setup   func(t *testing.T, tx *net.UDPConn, s *mmsgSender)
		wantGSO bool // GSO messages sent
		gsoOn   bool // GSO still on after the batch
	}{
		{name: "gso", gso: true, wantGSO: true, gsoOn: true},
		{name: "without gso", gso: false},
		{name: "EIO turns gso off", gso: true, setup: func(_ *testing.T, _ *net.UDPConn, s *mmsgSender) { s.sys = eioOnGSO }},
		{name: "kernel refuses gso with EINVAL", gso: true, gsoOn: true, setup: func(t *testing.T, tx *net.UDPConn, _ *mmsgSender) {
			// A socket without UDP checksums cannot segment (EINVAL).
			raw, err := tx.SyscallConn()
			if err != nil {
				t.Fatal(err)
			}
			var serr error
			if err := raw.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_NO_CHECK, 1)
			}); err != nil || serr != nil {
				t.Fatal(err, serr)
			}
		}},
	}
	const frames, full = 20, 5
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rx := []*net.UDPConn{listenLoopback(t), listenLoopback(t), listenLoopback(t)}
			for _, r := range rx {
				_ = r.SetReadBuffer(8 << 20) // the whole test's datagrams
			}
			tx := listenLoopback(t)
			_ = tx.SetWriteBuffer(4 << 20)
			bc := newBatchConn(tx, tc.gso)
			defer bc.Close()
			gate := make(chan struct{})
			bc.mu.Lock()
			if tc.setup != nil {
				tc.setup(t, tx, bc.sender.(*mmsgSender))
			}
			bc.sender = heldSender{gate, bc.sender}
			bc.mu.Unlock()
			if bc.gso.Load() != tc.gso {
				t.Fatalf("gso = %v, want %v", bc.gso.Load(), tc.gso)
			}

			packet := func(r, f, i int) []byte {
				size := 1228
				if i == full {
					size = 300 + f
				}
				p := make([]byte, size)
				for k := range p {
					p[k] = byte(r*31 + f*7 + i + k)
				}
				copy(p, fmt.Sprintf("%d/%d/%d/", r, f, i))
				return p
			}
			want := 0
			for f := range frames {
				for r, to := range rx {
					for i := range full + 1 {
						if _, err := bc.WriteToAddrPort(packet(r, f, i), to.LocalAddr().(*net.UDPAddr).AddrPort()); err != nil {
							t.Fatal(err)
						}
						want++
					}
				}
			}
			close(gate)

			buf := make([]byte, 2000)
			for r, c := range rx {
				_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
				for f := range frames {
					for i := range full + 1 {
						n, err := c.Read(buf)
						if err != nil {
							t.Fatalf("receiver %d, frame %d, packet %d: %v (sent %d, failed %d)", r, f, i, err, bc.sent.Load(), bc.failed.Load())
						}
						if w := packet(r, f, i); string(buf[:n]) != string(w) {
							t.Fatalf("receiver %d, frame %d, packet %d: got %d bytes %q, want %d bytes %q", r, f, i, n, buf[:min(n, 12)], len(w), w[:12])
						}
					}
				}
			}
			// The sender counts a batch once its system call returns,
			// which may be after the receivers have read it.
			waitFor(t, "the sender's counts", 5*time.Second, func() bool { return bc.sent.Load()+bc.failed.Load() >= uint64(want) })
			if s := bc.sent.Load(); s != uint64(want) || bc.failed.Load() != 0 {
				t.Fatalf("sent %d, failed %d; want %d sent", s, bc.failed.Load(), want)
			}
			if !tc.wantGSO { // messages are counted just after datagrams
				waitFor(t, "the sender's message count", 5*time.Second, func() bool { return bc.msgs.Load() >= uint64(want) })
			}
			msgs := bc.msgs.Load()
			if tc.wantGSO && msgs > uint64(want)/2 {
				t.Fatalf("%d messages for %d datagrams: GSO unused", msgs, want)
			}
			if !tc.wantGSO && msgs != uint64(want) {
				t.Fatalf("%d messages for %d datagrams, want one each", msgs, want)
			}
			if bc.gso.Load() != tc.gsoOn {
				t.Fatalf("gso on after the batch = %v, want %v", bc.gso.Load(), tc.gsoOn)
			}
		})
	}
}
