package webrtc

import (
	"fmt"
	"io"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/sdp/v3"
	"github.com/pion/transport/v5/stdnet"
	pion "github.com/pion/webrtc/v4"
)

// Payload types of the codecs the server negotiates. Only H.264, VP8 and
// Opus are registered: a small answer, and video that HLS can package
// without transcoding.
const (
	ptVP8            = 96
	ptH264Baseline   = 102 // constrained baseline without constraint_set1 (42001f)
	ptH264Constraint = 106 // constrained baseline (42e01f)
	ptH264High       = 112 // constrained high (640c1f)
	ptOpus           = 111
)

const h264FmtpFormat = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=%s"

var videoFeedback = []pion.RTCPFeedback{{Type: "ccm", Parameter: "fir"}}

// videoCodecs lists H.264 before VP8, so that offers the server makes
// prefer H.264.
func videoCodecs() []pion.RTPCodecParameters {
	h264 := func(pt pion.PayloadType, profile string) pion.RTPCodecParameters {
		return pion.RTPCodecParameters{
			RTPCodecCapability: pion.RTPCodecCapability{
				MimeType: pion.MimeTypeH264, ClockRate: 90000,
				SDPFmtpLine: fmt.Sprintf(h264FmtpFormat, profile), RTCPFeedback: videoFeedback,
			},
			PayloadType: pt,
		}
	}
	return []pion.RTPCodecParameters{
		h264(ptH264Constraint, "42e01f"),
		h264(ptH264Baseline, "42001f"),
		h264(ptH264High, "640c1f"),
		{
			RTPCodecCapability: pion.RTPCodecCapability{MimeType: pion.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: videoFeedback},
			PayloadType:        ptVP8,
		},
	}
}

func opusCodec() pion.RTPCodecParameters {
	return pion.RTPCodecParameters{
		RTPCodecCapability: pion.RTPCodecCapability{
			MimeType: pion.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1",
		},
		PayloadType: ptOpus,
	}
}

// apiKit holds what every PeerConnection is made with: the media engine
// (copied per connection by pion), the interceptor factories (built per
// connection), the settings (ICE, DTLS) and the muxed port's sockets.
// Publishers and viewers off the direct path share one API; a viewer on
// it gets an API of its own (viewerAPI).
type apiKit struct {
	me        *pion.MediaEngine
	se        pion.SettingEngine
	factories []interceptor.Factory
	shared    *pion.API
	// batched lists the muxed port's batching sockets (none without a
	// muxed port or with Config.noBatch); direct is the same list for the
	// direct send path, empty when that is off (Config.noDirect).
	batched, direct []*batchConn
	// nack counts the viewers' retransmissions (nack.go).
	nack *nackCounts
}

// viewerAPI is the API of a viewer sent through d: d's interceptor
// innermost, d's key tap on the DTLS handshake. With answerAsServer (the
// viewer's offer leaves the role to the server) the server answers as the
// DTLS server, whose handshake the tap can read; pion's answering role
// overrides what the offer says, so it is set only then.
func (k *apiKit) viewerAPI(d *directOut, answerAsServer bool) *pion.API {
	se := k.se
	se.SetDTLSKeyLogWriter(&d.tap)
	se.SetDTLSServerHelloMessageHook(d.tap.serverHello)
	if answerAsServer {
		_ = se.SetAnsweringDTLSRole(pion.DTLSRoleServer) // a valid role: no error
	}
	ir := &interceptor.Registry{}
	ir.Add(directFactory{d})
	for _, f := range k.factories {
		ir.Add(f)
	}
	return pion.NewAPI(pion.WithMediaEngine(k.me), pion.WithInterceptorRegistry(ir), pion.WithSettingEngine(se))
}

// newAPI builds the apiKit. The returned closer stops the sender reports
// and releases the single-port UDP mux, if any.
func newAPI(cfg Config) (*apiKit, io.Closer, error) {
	me := &pion.MediaEngine{}
	for _, c := range videoCodecs() {
		if err := me.RegisterCodec(c, pion.RTPCodecTypeVideo); err != nil {
			return nil, nil, fmt.Errorf("register %s: %w", c.MimeType, err)
		}
	}
	if err := me.RegisterCodec(opusCodec(), pion.RTPCodecTypeAudio); err != nil {
		return nil, nil, fmt.Errorf("register opus: %w", err)
	}

	// NACK generator and responder (nackResponder keeps the headers of the
	// last NACKBuffer packets of each viewer's video, and references to
	// their shared payloads; audio has no nack feedback, so no history),
	// sender reports (senderReports, one goroutine for every connection)
	// and pion's receiver reports (for publishers), and
	// transport-wide congestion control feedback for publishers (without it
	// browsers ramp their bitrate up slowly). Keyframe requests (PLI) are
	// sent by the publisher sessions themselves. The NACK generator and
	// the receiver reports only start (a goroutine each) on a connection
	// that receives media (remoteOnly).
	gen, err := nack.NewGeneratorInterceptor()
	if err != nil {
		return nil, nil, fmt.Errorf("configure NACK: %w", err)
	}
	me.RegisterFeedback(pion.RTCPFeedback{Type: "nack"}, pion.RTPCodecTypeVideo)
	me.RegisterFeedback(pion.RTCPFeedback{Type: "nack", Parameter: "pli"}, pion.RTPCodecTypeVideo)
	rr, err := report.NewReceiverInterceptor()
	if err != nil {
		return nil, nil, fmt.Errorf("configure receiver reports: %w", err)
	}
	// What pion.ConfigureTWCCSender does, keeping the factory (a
	// Registry does not list its factories) for viewers' registries.
	for _, kind := range []pion.RTPCodecType{pion.RTPCodecTypeVideo, pion.RTPCodecTypeAudio} {
		me.RegisterFeedback(pion.RTCPFeedback{Type: pion.TypeRTCPFBTransportCC}, kind)
		if err := me.RegisterHeaderExtension(pion.RTPHeaderExtensionCapability{URI: sdp.TransportCCURI}, kind); err != nil {
			return nil, nil, fmt.Errorf("configure TWCC feedback: %w", err)
		}
	}
	twccGen, err := twcc.NewSenderInterceptor()
	if err != nil {
		return nil, nil, fmt.Errorf("configure TWCC feedback: %w", err)
	}

	se := pion.SettingEngine{LoggerFactory: slogFactory{cfg.Logger}}
	// No keepalive checks of the server's own (pion pings every selected
	// pair every 2 s by default): media, RTCP and the browser's consent
	// checks (every few seconds) keep the pair and NAT mappings alive and
	// tell the server the peer is there; a peer that goes quiet is still
	// dropped after the timeouts. At 200 viewers the pings were 100
	// requests and 100 replies a second.
	se.SetICETimeouts(5*time.Second, 10*time.Second, 0)
	// pion's default SRTP replay window (64 packets) rejects a NACK
	// retransmission that arrives after 64 newer packets, which a burst or
	// a long round trip easily causes; libwebrtc keeps 1024.
	se.SetSRTPReplayProtectionWindow(1024)
	// As the DTLS server, answer the browser's first ClientHello with the
	// ServerHello flight, without a cookie round trip (HelloVerifyRequest)
	// first. The cookie keeps a spoofed source from turning one datagram
	// into a flight sent to its victim; under ICE that cannot happen, as
	// DTLS only starts on a selected pair and only writes to its remote
	// address, which has answered the connectivity checks signed with the
	// session's ICE password. Browsers answering as the DTLS server
	// (BoringSSL) do not send the cookie either. It saves a round trip
	// per handshake, which under load is two waits for a processor.
	se.SetDTLSInsecureSkipHelloVerify(true)
	se.SetNetworkTypes([]pion.NetworkType{pion.NetworkTypeUDP4, pion.NetworkTypeUDP6})
	// The server never needs mDNS: browsers reach it at its host (or
	// advertised) address and are learnt as peer-reflexive candidates.
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetIncludeLoopbackCandidate(cfg.IncludeLoopback)
	if cfg.IPFilter != nil {
		se.SetIPFilter(cfg.IPFilter)
	}
	if len(cfg.AdvertiseIPs) > 0 {
		if err := se.SetICEAddressRewriteRules(pion.ICEAddressRewriteRule{
			External:        cfg.AdvertiseIPs,
			AsCandidateType: pion.ICECandidateTypeHost,
			Mode:            pion.ICEAddressRewriteReplace,
		}); err != nil {
			return nil, nil, fmt.Errorf("%w: AdvertiseIPs: %w", ErrInvalidConfig, err)
		}
	}
	kit := &apiKit{me: me, nack: &nackCounts{}}
	var udp io.Closer = nopCloser{}
	if cfg.UDPMuxPort > 0 {
		mux, socks, err := listenUDPMux(cfg, cfg.UDPMuxPort, !cfg.noBatch, !cfg.noGSO, slogFactory{cfg.Logger}.NewLogger("udpmux"))
		if err != nil {
			return nil, nil, fmt.Errorf("listen on UDP port %d (webrtc.udp_mux_port; another node on this host needs another port): %w", cfg.UDPMuxPort, err)
		}
		se.SetICEUDPMux(mux)
		// Host candidates come from the mux's sockets, so the agents need
		// no interface list of their own: one network, listed once, instead
		// of a netlink dump for each PeerConnection.
		n, err := stdnet.NewNet()
		if err != nil {
			_ = mux.Close()
			return nil, nil, fmt.Errorf("list network interfaces: %w", err)
		}
		se.SetNet(n)
		udp = mux
		kit.batched = socks
		if !cfg.noDirect {
			kit.direct = socks
		}
	} else if err := se.SetEphemeralUDPPortRange(cfg.UDPPortMin, cfg.UDPPortMax); err != nil {
		return nil, nil, fmt.Errorf("%w: UDP port range: %w", ErrInvalidConfig, err)
	}

	sr := newSenderReports(srTick, time.Now)
	// Innermost first: the NACK responder writes its retransmissions
	// below the sender reports, which do not count them (as pion's).
	kit.factories = []interceptor.Factory{nackResponderFactory{size: cfg.NACKBuffer, counts: kit.nack}, remoteOnly{gen}, remoteOnly{rr}, twccGen, sr}
	kit.se = se
	ir := &interceptor.Registry{}
	for _, f := range kit.factories {
		ir.Add(f)
	}
	kit.shared = pion.NewAPI(pion.WithMediaEngine(me), pion.WithInterceptorRegistry(ir), pion.WithSettingEngine(se))
	return kit, closers{sr, udp}, nil
}

type nopCloser struct{}

func (nopCloser) Close() error { return nil }

// closers closes each in turn, returning the first error.
type closers []io.Closer

func (cs closers) Close() error {
	var first error
	for _, c := range cs {
		if err := c.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
