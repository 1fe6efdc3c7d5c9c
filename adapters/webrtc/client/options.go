package client

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	pion "github.com/pion/webrtc/v4"
)

// Options are the signalling and network settings of a session. The zero
// value uses the defaults.
type Options struct {
	// HTTPClient sends the WHIP/WHEP requests (default: a client without
	// keep-alive and with a 15 s timeout).
	HTTPClient *http.Client
	// Token, when set, is sent as "Authorization: Bearer Token" (WHIP,
	// WHEP) or as the token field of the play command (WebSocket).
	Token string
	// IPFilter keeps the local addresses offered as ICE candidates.
	// Default: for a server on a loopback address, the loopback addresses
	// of its family (loopback candidates included); for a server on one of
	// this machine's addresses, that address; otherwise every address.
	IPFilter func(net.IP) bool
	// ConnectTimeout bounds the signalling exchange plus the ICE and DTLS
	// connection (default 20 s).
	ConnectTimeout time.Duration
	// Logger receives the client's logs (default: discarded).
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 20 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// srtpReplayWindow is the SRTP replay protection window, in packets, as
// in libwebrtc.
const srtpReplayWindow = 1024

// H.264 formats the client accepts, all packetization-mode=1: constrained
// baseline, baseline, main and high, as browsers offer them.
var h264Profiles = []string{"42e01f", "42001f", "4d001f", "640c1f", "64001f"}

// newAPI builds a pion API for a session with the server at serverURL:
// H.264 and Opus only, NACK, RTCP reports and TWCC as in a browser, and
// the ICE settings of opts.
func newAPI(serverURL string, opts Options, counts *rtcpCounts) (*pion.API, error) {
	me := &pion.MediaEngine{}
	for i, profile := range h264Profiles {
		c := pion.RTPCodecParameters{
			RTPCodecCapability: pion.RTPCodecCapability{
				MimeType: pion.MimeTypeH264, ClockRate: 90000,
				SDPFmtpLine:  "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=" + profile,
				RTCPFeedback: []pion.RTCPFeedback{{Type: "ccm", Parameter: "fir"}}, // NACK and PLI: added by the interceptors
			},
			PayloadType: pion.PayloadType(102 + 2*i),
		}
		if err := me.RegisterCodec(c, pion.RTPCodecTypeVideo); err != nil {
			return nil, fmt.Errorf("register H.264: %w", err)
		}
	}
	opus := pion.RTPCodecParameters{
		RTPCodecCapability: pion.RTPCodecCapability{
			MimeType: pion.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1",
		},
		PayloadType: 111,
	}
	if err := me.RegisterCodec(opus, pion.RTPCodecTypeAudio); err != nil {
		return nil, fmt.Errorf("register Opus: %w", err)
	}
	ir := &interceptor.Registry{}
	if counts != nil {
		// First: the interceptors added after it (the NACK generator)
		// write their RTCP through it.
		ir.Add(rtcpCounter{counts})
	}
	if err := pion.RegisterDefaultInterceptors(me, ir); err != nil {
		return nil, fmt.Errorf("interceptors: %w", err)
	}

	se := pion.SettingEngine{}
	// pion's SRTP replay window (64 packets) drops a NACK retransmission
	// that comes after 64 newer packets (a burst: a viewer's first GOP);
	// browsers keep 1024.
	se.SetSRTPReplayProtectionWindow(srtpReplayWindow)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]pion.NetworkType{pion.NetworkTypeUDP4, pion.NetworkTypeUDP6})
	filter, loopback := opts.IPFilter, false
	if ip := serverIP(serverURL); ip != nil {
		if ip.To4() != nil {
			se.SetNetworkTypes([]pion.NetworkType{pion.NetworkTypeUDP4})
		} else {
			se.SetNetworkTypes([]pion.NetworkType{pion.NetworkTypeUDP6})
		}
		if filter == nil {
			filter, loopback = defaultFilter(ip)
		}
		loopback = loopback || ip.IsLoopback()
	}
	se.SetIncludeLoopbackCandidate(loopback)
	if filter != nil {
		se.SetIPFilter(filter)
	}
	return pion.NewAPI(pion.WithMediaEngine(me), pion.WithInterceptorRegistry(ir), pion.WithSettingEngine(se)), nil
}

// serverIP is the host of a URL when it is an IP address.
func serverIP(raw string) net.IP {
	u, err := url.Parse(raw)
	if err != nil {
		return nil
	}
	return net.ParseIP(u.Hostname())
}

// defaultFilter keeps the loopback addresses of the server's family for a
// loopback server, the server's own address when it is local, and
// everything otherwise (nil).
func defaultFilter(server net.IP) (filter func(net.IP) bool, loopback bool) {
	v4 := server.To4() != nil
	if server.IsLoopback() {
		return func(ip net.IP) bool { return ip.IsLoopback() && (ip.To4() != nil) == v4 }, true
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, false
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.Equal(server) {
			return func(ip net.IP) bool { return ip.Equal(server) }, false
		}
	}
	return nil, false
}
