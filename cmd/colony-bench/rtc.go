package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
	"github.com/pion/webrtc/v4"
)

// errConnFailed reports a PeerConnection that failed or was closed before
// it came up (ICE or DTLS did not complete).
var errConnFailed = errors.New("peer connection failed")

// errConnEnded reports a PeerConnection that came up and later failed or
// was closed: by the server (a viewer shed past its capacity) or lost.
var errConnEnded = errors.New("connection ended after it came up (closed by the server, or lost)")

// browserH264 are the H.264 formats a browser offers (Chrome's order),
// each with an RTX format for retransmissions.
var browserH264 = []struct {
	pt, rtx webrtc.PayloadType
	fmtp    string
}{
	{102, 103, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f"},
	{104, 105, "level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42001f"},
	{106, 107, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"},
	{108, 109, "level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f"},
	{127, 125, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f"},
	{112, 113, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=64001f"},
}

// rtcShared is what the generator's WebRTC viewers share: one DTLS
// certificate and one list of the machine's interfaces. A browser makes
// its own on its own machine; here the viewers share the server's cores,
// and a key pair, a certificate and a netlink dump for each (pion's
// defaults) would be the generator's work counted in a crowd's time to
// first frame.
type rtcShared struct {
	cert webrtc.Certificate
	net  *stdnet.Net
	gro  bool // viewers' sockets take UDP GRO (--viewer-gro)
}

func newRTCShared(gro bool) (*rtcShared, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("viewers' DTLS key: %w", err)
	}
	cert, err := webrtc.GenerateCertificate(key)
	if err != nil {
		return nil, fmt.Errorf("viewers' DTLS certificate: %w", err)
	}
	n, err := stdnet.NewNet()
	if err != nil {
		return nil, fmt.Errorf("list network interfaces: %w", err)
	}
	return &rtcShared{cert: *cert, net: n, gro: gro}, nil
}

// newRTCPeerConnection returns a viewer's PeerConnection and the log its
// sockets note RTP packets' arrivals in (empty where the platform gives no
// receive timestamps).
func newRTCPeerConnection(sh *rtcShared) (*webrtc.PeerConnection, *arrivalLog, error) {
	arrivals := &arrivalLog{}
	api, err := newRTCAPI(newStampNet(sh.net, arrivals, sh.gro))
	if err != nil {
		return nil, nil, err
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{Certificates: []webrtc.Certificate{sh.cert}})
	if err != nil {
		return nil, nil, err
	}
	return pc, arrivals, nil
}

// newRTCAPI returns a pion API that receives like a browser: H.264 and
// Opus, NACK with RTX, receiver reports, PLI; host candidates on UDP4
// including loopback (servers on 127.0.0.1), no mDNS. The candidates'
// sockets come from n (nil: pion's default), which is why each viewer has
// an API of its own.
func newRTCAPI(n transport.Net) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	fb := []webrtc.RTCPFeedback{{Type: "goog-remb"}, {Type: "ccm", Parameter: "fir"},
		{Type: "nack"}, {Type: "nack", Parameter: "pli"}}
	for _, c := range browserH264 {
		if err := m.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: c.fmtp, RTCPFeedback: fb,
		}, PayloadType: c.pt}, webrtc.RTPCodecTypeVideo); err != nil {
			return nil, err
		}
		if err := m.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{
			MimeType: webrtc.MimeTypeRTX, ClockRate: 90000, SDPFmtpLine: fmt.Sprintf("apt=%d", c.pt),
		}, PayloadType: c.rtx}, webrtc.RTPCodecTypeVideo); err != nil {
			return nil, err
		}
	}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1",
	}, PayloadType: 111}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, err
	}
	ir := &interceptor.Registry{}
	// NACK a gap 50 ms after noticing it (pion's default is 100 ms; a
	// browser asks sooner).
	if err := webrtc.ConfigureNackWithOptions(m, ir, []nack.GeneratorOption{
		nack.GeneratorInterval(50 * time.Millisecond)}); err != nil {
		return nil, err
	}
	if err := webrtc.ConfigureRTCPReports(ir); err != nil {
		return nil, err
	}
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	if n != nil {
		se.SetNet(n)
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir),
		webrtc.WithSettingEngine(se)), nil
}

// addRecvTransceivers asks for one video and one audio track.
func addRecvTransceivers(pc *webrtc.PeerConnection) error {
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{
			Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			return err
		}
	}
	return nil
}

// nackWait is how long a frame with a missing packet is waited for before
// it is given up (a browser's jitter buffer waits about this long for
// retransmissions).
const nackWait = 500 * time.Millisecond

// packetMargin is how many of the newest packets the loss count leaves
// out, their retransmissions possibly still in flight.
const packetMargin = 50

// rtcReceiver feeds a PeerConnection's incoming tracks into a viewer's
// stats. close ends it and waits for its readers.
type rtcReceiver struct {
	pc       *webrtc.PeerConnection
	arrivals *arrivalLog // when packets reached the sockets; nil: not known
	stats    *viewerStats
	failed   chan struct{}
	up       atomic.Bool // the connection came up

	wg       sync.WaitGroup
	mu       sync.Mutex
	closed   bool
	expected int64
	lost     int64
	late     int64
	once     sync.Once
}

// newRTCReceiver hooks pc's tracks to stats, with video frames' arrivals
// taken from arrivals (nil: when pion hands the packets over); onFail
// (optional) is called once if the connection fails.
func newRTCReceiver(pc *webrtc.PeerConnection, arrivals *arrivalLog, stats *viewerStats, onFail func()) *rtcReceiver {
	r := &rtcReceiver{pc: pc, arrivals: arrivals, stats: stats, failed: make(chan struct{})}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		r.mu.Lock()
		defer r.mu.Unlock()
		if !r.closed {
			r.wg.Go(func() { r.read(tr) })
		}
	})
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			r.up.Store(true)
			hs, _ := arrivals.lastDTLSSent()
			stats.markConnected(time.Now(), hs)
		}
		if s == webrtc.PeerConnectionStateFailed || s == webrtc.PeerConnectionStateClosed {
			r.once.Do(func() {
				close(r.failed)
				if onFail != nil {
					onFail()
				}
			})
		}
	})
	return r
}

// read drains one track until it ends. A video frame is displayed when
// pion hands its last packet over and arrived when that packet reached the
// socket (if known).
func (r *rtcReceiver) read(tr *webrtc.TrackRemote) {
	video := tr.Kind() == webrtc.RTPCodecTypeVideo
	buf := make([]byte, 1500)
	var pkt rtp.Packet
	var seqs seqTracker
	asm := newFrameAssembler(nackWait)
	var frames []assembled
	var lastPLI time.Time
	for {
		n, attrs, err := tr.Read(buf)
		if err != nil {
			break
		}
		now := time.Now()
		r.stats.received(now, n)
		if pkt.Unmarshal(buf[:n]) != nil {
			continue
		}
		seqs.add(pkt.SequenceNumber, r.stats.win.contains(now))
		if !video {
			r.stats.audioPacket(now)
			continue
		}
		var sock time.Time
		if t, ok := r.arrivals.arrival(pkt.SSRC, pkt.SequenceNumber, attrs, now); ok {
			sock = t
		}
		var needKey bool
		frames, needKey = asm.push(pkt.SequenceNumber, pkt.Marker, pkt.Payload, now, sock, frames[:0])
		for _, f := range frames {
			r.stats.frame(f.display, f.arrival, f.info)
		}
		if needKey && now.Sub(lastPLI) > time.Second {
			lastPLI = now
			_ = r.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(tr.SSRC())}})
		}
	}
	exp, lost := seqs.counts(packetMargin)
	r.mu.Lock()
	r.expected += exp
	r.lost += lost
	r.late += seqs.late
	r.mu.Unlock()
}

// failure is the error of a connection that failed or was closed by the
// other side: errConnEnded once it had come up, errConnFailed before.
func (r *rtcReceiver) failure() error {
	if r.up.Load() {
		return errConnEnded
	}
	return errConnFailed
}

// close closes the PeerConnection, waits for the readers and records the
// packet counts.
func (r *rtcReceiver) close() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.once.Do(func() { close(r.failed) })
	_ = r.pc.Close()
	r.wg.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stats.setPackets(r.expected, r.lost, r.late)
}
