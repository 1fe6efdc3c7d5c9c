package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/bluenviron/gohlslib/v2"
	"github.com/pion/transport/v5/stdnet"
)

// A socket from stampNet notes the kernel receive time of RTP packets, and
// only of those, whichever read method ICE uses; it still returns the
// packet and its source.
func TestStampConn(t *testing.T) {
	log := &arrivalLog{}
	base, err := stdnet.NewNet()
	if err != nil {
		t.Fatal(err)
	}
	n := newStampNet(base, log, false)
	c, err := n.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sc, ok := c.(*stampConn)
	if !ok {
		t.Fatalf("ListenUDP returned %T: SO_TIMESTAMPNS not set", c)
	}
	from, err := net.DialUDP("udp4", nil, c.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer from.Close()
	src := from.LocalAddr().(*net.UDPAddr).AddrPort()

	reads := map[string]func(b []byte) (int, netip.AddrPort, error){
		"ReadFromAddrPort": sc.ReadFromAddrPort,
		"ReadFrom": func(b []byte) (int, netip.AddrPort, error) {
			n, a, err := sc.ReadFrom(b)
			if err != nil {
				return n, netip.AddrPort{}, err
			}
			return n, a.(*net.UDPAddr).AddrPort(), nil
		},
		"ReadFromUDP": func(b []byte) (int, netip.AddrPort, error) {
			n, a, err := sc.ReadFromUDP(b)
			if err != nil {
				return n, netip.AddrPort{}, err
			}
			return n, a.AddrPort(), nil
		},
	}
	tests := []struct {
		name   string
		read   string
		b      []byte
		ssrc   uint32 // where an RTP packet would be recorded
		seq    uint16
		wantIn bool
	}{
		{"RTP", "ReadFromAddrPort", rtpDatagram(t, 0xdeadbeef, 4242, 102, true), 0xdeadbeef, 4242, true},
		{"RTP without marker", "ReadFrom", rtpDatagram(t, 0xdeadbeef, 4243, 102, false), 0xdeadbeef, 4243, true},
		{"RTP, another SSRC", "ReadFromUDP", rtpDatagram(t, 0x1234, 65535, 111, true), 0x1234, 65535, true},
		{"STUN", "ReadFromAddrPort", stunDatagram, binary.BigEndian.Uint32(stunDatagram[8:]), binary.BigEndian.Uint16(stunDatagram[2:]), false},
		{"DTLS", "ReadFrom", dtlsDatagram, binary.BigEndian.Uint32(dtlsDatagram[8:]), binary.BigEndian.Uint16(dtlsDatagram[2:]), false},
		{"RTCP", "ReadFromAddrPort", rtcpDatagram(t), binary.BigEndian.Uint32(rtcpDatagram(t)[8:]), binary.BigEndian.Uint16(rtcpDatagram(t)[2:]), false},
	}
	buf := make([]byte, 1500)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := time.Now()
			if _, err := from.Write(tc.b); err != nil {
				t.Fatal(err)
			}
			_ = sc.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, addr, err := reads[tc.read](buf)
			after := time.Now()
			if err != nil {
				t.Fatalf("%s: %v", tc.read, err)
			}
			if !bytes.Equal(buf[:n], tc.b) || addr != src {
				t.Fatalf("%s: % x from %v, want % x from %v", tc.read, buf[:n], addr, tc.b, src)
			}
			ns, found := log.lookup(tc.ssrc, tc.seq)
			if found != tc.wantIn {
				t.Fatalf("recorded %v, want %v", found, tc.wantIn)
			}
			if !found {
				return
			}
			if at := time.Unix(0, ns); at.Before(before) || at.After(after) {
				t.Fatalf("arrival %v not between sending %v and reading %v", at, before, after)
			}
		})
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	if len(log.rings) != 2 {
		t.Fatalf("%d SSRCs recorded, want the 2 RTP ones", len(log.rings))
	}
}

// The socket notes when a DTLS datagram leaves it (the anchor of the
// first frame's time after the handshake), and only a DTLS one.
func TestStampConnNotesDTLSSent(t *testing.T) {
	log := &arrivalLog{}
	base, err := stdnet.NewNet()
	if err != nil {
		t.Fatal(err)
	}
	c, err := newStampNet(base, log, false).ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sc := c.(*stampConn)
	peer, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	to := peer.LocalAddr().(*net.UDPAddr)
	if _, ok := log.lastDTLSSent(); ok {
		t.Fatal("a DTLS send noted before any")
	}
	var nilLog *arrivalLog
	if _, ok := nilLog.lastDTLSSent(); ok {
		t.Fatal("a nil log (no timestamps) gave a DTLS send")
	}
	writes := map[string]func([]byte) error{
		"WriteToAddrPort": func(b []byte) error { _, err := sc.WriteToAddrPort(b, to.AddrPort()); return err },
		"WriteTo":         func(b []byte) error { _, err := sc.WriteTo(b, to); return err },
	}
	for name, write := range writes {
		t.Run(name, func(t *testing.T) {
			before := time.Now()
			if err := write(dtlsDatagram); err != nil {
				t.Fatal(err)
			}
			after := time.Now()
			at, ok := log.lastDTLSSent()
			if !ok || at.Before(before) || at.After(after) {
				t.Fatalf("DTLS sent at %v (%v), want between %v and %v", at, ok, before, after)
			}
			for _, b := range [][]byte{stunDatagram, rtcpDatagram(t), rtpDatagram(t, 1, 2, 102, true)} {
				if err := write(b); err != nil {
					t.Fatal(err)
				}
			}
			if again, _ := log.lastDTLSSent(); !again.Equal(at) {
				t.Fatalf("a STUN, RTCP or RTP send moved the DTLS time from %v to %v", at, again)
			}
		})
	}
}

// The control data parser takes SCM_TIMESTAMPNS wherever it is in the
// buffer and nothing else.
func TestParseRxTimestamp(t *testing.T) {
	cmsg := func(level, typ int32, data []byte) []byte {
		b := make([]byte, syscall.CmsgSpace(len(data)))
		h := (*syscall.Cmsghdr)(unsafe.Pointer(&b[0]))
		h.Level, h.Type = level, typ
		h.SetLen(syscall.CmsgLen(len(data)))
		copy(b[syscall.CmsgLen(0):], data)
		return b
	}
	ts := syscall.NsecToTimespec(1_700_000_000_123_456_789)
	tsb := unsafe.Slice((*byte)(unsafe.Pointer(&ts)), unsafe.Sizeof(ts))
	stamp := cmsg(syscall.SOL_SOCKET, syscall.SCM_TIMESTAMPNS, tsb)
	tos := cmsg(syscall.IPPROTO_IP, syscall.IP_TOS, []byte{2})
	tests := []struct {
		name string
		oob  []byte
		want int64
		ok   bool
	}{
		{"timestamp", stamp, 1_700_000_000_123_456_789, true},
		{"after another message", append(append([]byte{}, tos...), stamp...), 1_700_000_000_123_456_789, true},
		{"another message only", tos, 0, false},
		{"empty", nil, 0, false},
		{"truncated", stamp[:len(stamp)-4], 0, false},
		{"SO_TIMESTAMP's type", cmsg(syscall.SOL_SOCKET, syscall.SCM_TIMESTAMP, tsb), 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parseRxTimestamp(tc.oob)
			if got != tc.want || ok != tc.ok {
				t.Fatalf("%d %v, want %d %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

// WebRTC viewers take a frame's arrival from the socket: before pion hands
// the frame's last packet over, never before it was sent, and for frames
// completed by an RTX retransmission too (the fake server drops packets
// for NACK to repair); with and without --viewer-gro.
func TestWebRTCSocketArrival(t *testing.T) {
	for _, gro := range []bool{false, true} {
		t.Run(fmt.Sprintf("gro=%v", gro), func(t *testing.T) { testWebRTCSocketArrival(t, gro) })
	}
}

func testWebRTCSocketArrival(t *testing.T, gro bool) {
	target := newFakeTarget(t, gohlslib.MuxerVariantLowLatency, 40)
	win := &window{}
	win.begin(time.Now())
	whep := newViewerStats(win, time.Now())
	ws := newViewerStats(win, time.Now())
	sh, err := newRTCShared(gro)
	if err != nil {
		t.Fatal(err)
	}
	viewers := map[string]struct {
		v viewerRunner
		s *viewerStats
	}{
		modeWHEP: {&whepViewer{url: target.url + "/whep", client: newHTTPClient(1), stats: whep, rtc: sh}, whep},
		modeWS: {&wsViewer{url: strings.Replace(target.url, "http://", "ws://", 1) + "/ws",
			streamID: "stream1", stats: ws, rtc: sh}, ws},
	}
	// Up to a second to the first keyframe, a second of start-up left out
	// of the latency (startUp), then more than 30 frames.
	ctx, cancel := context.WithTimeout(context.Background(), 3500*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	for mode, v := range viewers {
		wg.Go(func() {
			if err := v.v.Run(ctx); err != nil {
				t.Errorf("%s: %v", mode, err)
			}
		})
	}
	wg.Wait()
	for mode, v := range viewers {
		s := v.s
		s.mu.Lock()
		var earlier int
		for i, lat := range s.latencies {
			recv := s.recvLatency[i]
			if recv <= 0 || recv > lat {
				t.Errorf("%s: frame %d: socket arrival %.3f ms, display %.3f ms after the send", mode, i, recv, lat)
			}
			if recv < lat {
				earlier++
			}
		}
		t.Logf("%s: %d frames, %d with a socket arrival; %d packets repaired", mode, len(s.latencies), earlier, s.late)
		// Every frame's last packet, retransmitted or not, went through a
		// stamping socket.
		if len(s.latencies) < 30 || earlier != len(s.latencies) || s.late == 0 {
			t.Errorf("%s: %d frames, %d with a socket arrival, %d packets repaired", mode, len(s.latencies), earlier, s.late)
		}
		s.mu.Unlock()
	}
}

// gsoControl is the control message a sender gives sendmsg to have the
// kernel cut its buffer into datagrams of size bytes (UDP_SEGMENT).
func gsoControl(size uint16) []byte {
	oob := make([]byte, syscall.CmsgSpace(2))
	h := (*syscall.Cmsghdr)(unsafe.Pointer(&oob[0]))
	h.Level, h.Type = solUDP, 103 // UDP_SEGMENT
	h.SetLen(syscall.CmsgLen(2))
	binary.NativeEndian.PutUint16(oob[syscall.CmsgLen(0):], size)
	return oob
}

// rtpSized is an RTP packet of exactly n bytes on ssrc with sequence seq.
func rtpSized(ssrc uint32, seq uint16, n int) []byte {
	b := make([]byte, n)
	b[0], b[1] = 0x80, 102
	binary.BigEndian.PutUint16(b[2:], seq)
	binary.BigEndian.PutUint32(b[8:], ssrc)
	for i := 12; i < n; i++ {
		b[i] = byte(seq) + byte(i)
	}
	return b
}

// With --viewer-gro a viewer's socket takes a sender's GSO batch in one
// read (the kernel does coalesce it: the raw socket shows it) and hands
// ICE its datagrams one by one, each with its source, each RTP packet
// noted at the batch's receive time; a single datagram still comes as it
// is, and a buffer shorter than a datagram gets its head, as a socket
// would give it.
func TestStampConnGRO(t *testing.T) {
	log := &arrivalLog{}
	base, err := stdnet.NewNet()
	if err != nil {
		t.Fatal(err)
	}
	c, err := newStampNet(base, log, true).ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sc, ok := c.(*stampConn)
	if !ok || sc.gro == nil {
		t.Fatalf("ListenUDP returned %T (GRO %v): want a stampConn with UDP_GRO", c, ok && sc.gro != nil)
	}
	from, err := net.DialUDP("udp4", nil, c.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer from.Close()
	src := from.LocalAddr().(*net.UDPAddr).AddrPort()

	const seg = 1200
	batch := func(first uint16, sizes ...int) (all []byte, dgrams [][]byte) {
		for i, n := range sizes {
			d := rtpSized(0xfeed, first+uint16(i), n)
			dgrams = append(dgrams, d)
			all = append(all, d...)
		}
		return all, dgrams
	}
	send := func(all []byte, gso bool) {
		t.Helper()
		var oob []byte
		if gso {
			oob = gsoControl(seg)
		}
		if _, _, err := from.WriteMsgUDP(all, oob, nil); err != nil {
			t.Fatalf("send %d bytes (GSO %v): %v", len(all), gso, err)
		}
	}
	_ = sc.SetReadDeadline(time.Now().Add(5 * time.Second))

	t.Run("kernel coalesces", func(t *testing.T) {
		all, _ := batch(1, seg, seg, seg, 300)
		send(all, true)
		buf := make([]byte, groBufSize)
		oob := make([]byte, oobSize)
		n, oobn, _, _, err := sc.UDPConn.ReadMsgUDPAddrPort(buf, oob)
		if err != nil {
			t.Fatal(err)
		}
		ctl := parseControl(oob[:oobn])
		if n != len(all) || ctl.gsoSize != seg || !ctl.rxOK {
			t.Fatalf("one read of %d bytes, segment size %d, timestamp %v; want %d, %d, true",
				n, ctl.gsoSize, ctl.rxOK, len(all), seg)
		}
	})

	t.Run("split", func(t *testing.T) {
		before := time.Now()
		all, want := batch(100, seg, seg, seg, seg, 77)
		send(all, true)
		single := rtpSized(0xfeed, 200, 500)
		send(single, false)
		short, shortWant := batch(300, seg, 900)
		send(short, true)
		want = append(want, single)
		want = append(want, shortWant...)
		buf := make([]byte, 1500)
		for i, w := range want {
			b := buf
			if i == len(want)-1 {
				b = buf[:100] // the last one is cut to the buffer
				w = w[:100]
			}
			n, addr, err := sc.ReadFromAddrPort(b)
			if err != nil {
				t.Fatalf("datagram %d: %v", i, err)
			}
			if !bytes.Equal(b[:n], w) || addr != src {
				t.Fatalf("datagram %d: %d bytes from %v, want %d (seq %d) from %v",
					i, n, addr, len(w), binary.BigEndian.Uint16(w[2:]), src)
			}
		}
		after := time.Now()
		var batchAt int64
		for _, seq := range []uint16{100, 101, 102, 103, 104, 200, 300, 301} {
			ns, ok := log.lookup(0xfeed, seq)
			if !ok {
				t.Fatalf("seq %d not noted", seq)
			}
			if at := time.Unix(0, ns); at.Before(before) || at.After(after) {
				t.Fatalf("seq %d noted at %v, not between %v and %v", seq, at, before, after)
			}
			if seq >= 100 && seq <= 104 {
				if batchAt != 0 && ns != batchAt {
					t.Fatalf("seq %d at %d, the batch's others at %d", seq, ns, batchAt)
				}
				batchAt = ns
			}
		}
	})
}
