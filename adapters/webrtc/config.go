package webrtc

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/colony-live/colony/ports"
)

// ErrInvalidConfig is returned (wrapped) by New for an unusable Config.
var ErrInvalidConfig = errors.New("invalid WebRTC configuration")

// ICEServer is a STUN or TURN server handed to clients (Ant Media's
// getIceServerConfig). The server's own PeerConnections use none: they
// offer host candidates, rewritten to AdvertiseIPs when those are set.
type ICEServer struct {
	URLs       []string
	Username   string
	Credential string
}

// Config configures the WebRTC server. The zero value uses the defaults.
type Config struct {
	// UDPPortMin and UDPPortMax bound the ephemeral UDP ports of the ICE
	// agents (default 50000-60000). Unused when UDPMuxPort is set.
	UDPPortMin, UDPPortMax uint16
	// UDPMuxPort, when > 0, serves every PeerConnection on this single UDP
	// port (pion's ICE UDP mux), which eases firewalls and containers. Its
	// writes are batched (sendmmsg on Linux: many viewers' packets per
	// system call): measured about a sixth less CPU than the port range at
	// 200 viewers, but one sending goroutine carries every viewer, so on a
	// CPU-starved machine it degrades sooner than the range.
	UDPMuxPort int
	// AdvertiseIPs replace the host candidates' addresses (1:1 NAT): the
	// node's advertised public or private address. Empty: the interfaces'
	// own addresses.
	AdvertiseIPs []string
	// IncludeLoopback gathers loopback candidates too (tests).
	IncludeLoopback bool
	// IPFilter, when set, keeps only the local addresses it accepts as
	// candidates (tests restrict them to 127.0.0.1).
	IPFilter func(net.IP) bool
	// AllowOrigin is the Access-Control-Allow-Origin answered on WHIP and
	// WHEP, and the origin the WebSocket accepts (default "*": any).
	AllowOrigin string
	// ICEServers are returned to WebSocket clients by getIceServerConfig.
	ICEServers []ICEServer
	// MaxViewers bounds the WebRTC viewers of the whole server; beyond it a
	// viewer is refused (503 / highResourceUsage). 0 (default): unlimited.
	MaxViewers int
	// CPULimit refuses new viewers (503 / highResourceUsage) while the
	// process uses more than this fraction of the machine's cores, so that
	// a node past its capacity keeps its viewers' latency rather than
	// letting every viewer fall behind (default 0.9; negative: never).
	CPULimit float64
	// MachineLoad, when set, makes CPULimit apply to the whole machine's CPU
	// use (its Sample, every second) instead of the server's own: the right
	// signal where the server shares its cores (a load generator, a
	// transcoder, other services). Nil (default): the process's own CPU.
	MachineLoad ports.LoadSampler
	// LagLimit refuses new viewers (503 / highResourceUsage) while the
	// viewers' video frames leave this late after they entered the server
	// (the 90th percentile of the viewers' worst lag over the last second),
	// the direct sign of a node past its capacity, whatever the CPU figure
	// says. While it lasts, viewers whose own lag has been past 4× the
	// limit for 2 s are closed, the newest first, a tenth of the viewers
	// at most every 2 s, so that the others catch up (default 200ms;
	// negative: never).
	LagLimit time.Duration
	// NACKBuffer is how many sent video packets each viewer keeps for
	// retransmission on a NACK, a power of two (default 256: over a second
	// of a 2 Mbit/s stream; pion's default, 1024, holds 1.5 MB per viewer).
	// Audio is not retransmitted.
	NACKBuffer uint16
	// MaxSessionsPerConn bounds the publish and play sessions of one
	// WebSocket connection (default 8).
	MaxSessionsPerConn int
	// MaxMessageBytes bounds an SDP body and a WebSocket message (default 64 KiB).
	MaxMessageBytes int64
	// GatherTimeout bounds ICE gathering before a WHIP/WHEP answer (default 5s).
	GatherTimeout time.Duration
	// ConnectTimeout bounds how long a session may take to connect after
	// its answer (default 30s).
	ConnectTimeout time.Duration
	// StartTimeout bounds how long a WebRTC publisher may take to show
	// every track it offered (and, for H.264, its SPS and PPS); after it
	// the stream starts with the tracks that are ready (default 5s).
	StartTimeout time.Duration
	// PLIInterval is how often publishers are asked for a keyframe, so that
	// new viewers and HLS segments find one (default 2s).
	PLIInterval time.Duration
	// Audio, when set, gives viewers of a stream with AAC audio (RTMP) an
	// Opus re-encoding of it; without it (or when it fails) they get the
	// video only.
	Audio ports.AudioCompanions
	// Renditions, when set, lists a stream's renditions ({id}_{N}p), which
	// viewers are switched between by their reception (adaptive bitrate).
	// Without it, viewers still pin a rendition by its height
	// (forceStreamQuality, WHEP's ?quality=N).
	Renditions Renditions
	// AudioTimeout bounds the wait for Audio's Opus stream before a viewer
	// is answered (default 5s): the first viewer of a stream starts the
	// transcoder.
	AudioTimeout time.Duration
	// AudioPackViewers: from this many WebRTC viewers on the server, Opus
	// audio goes to viewers in packets of AudioPack, consecutive frames
	// joined (RFC 6716 code 3, made once per stream): at 20 ms frames and
	// 60 ms packets a third of the audio's packets, the largest share of
	// the packets a viewer costs, for more audio latency: 40 ms at the
	// server, and a deeper jitter buffer in the browser (Chromium's mean
	// delay 51-98 ms against 30-79 in the tests' runs). The frames are not
	// re-encoded. Back to a frame a packet when the viewers fall under
	// three quarters of it (default 100; negative: never).
	AudioPackViewers int
	// AudioPack is the audio a packed Opus packet holds, 40 to 120 ms
	// (default 60ms).
	AudioPack time.Duration
	// Logger receives the server's logs (default: discarded).
	Logger *slog.Logger

	noBatch bool // the muxed port writes one datagram per call (tests, measures)
	noGSO   bool // the muxed port's batches do not use UDP GSO (tests, measures)
	// noDirect: viewers are sent through pion's SRTP session, never the
	// direct path (srtpdirect.go) (tests, measures)
	noDirect bool
	// beforeLive, if set, is called by each viewer between its start-up
	// burst and going live in the fan-out (tests: units pile up meanwhile).
	beforeLive func()
	// fanoutChunk overrides fanoutChunk (tests: several goroutines serve
	// a few viewers).
	fanoutChunk int
	// fanoutYieldEvery overrides fanoutYieldEvery (tests: a hand-off to
	// the socket's sender between a few viewers).
	fanoutYieldEvery int
}

func (c Config) withDefaults() Config {
	if c.UDPPortMin == 0 && c.UDPPortMax == 0 {
		c.UDPPortMin, c.UDPPortMax = 50000, 60000
	}
	if c.AllowOrigin == "" {
		c.AllowOrigin = "*"
	}
	if c.CPULimit == 0 {
		c.CPULimit = 0.9
	}
	if c.LagLimit == 0 {
		c.LagLimit = 200 * time.Millisecond
	}
	if c.NACKBuffer == 0 {
		c.NACKBuffer = 256
	}
	if c.MaxSessionsPerConn == 0 {
		c.MaxSessionsPerConn = 8
	}
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = 64 << 10
	}
	if c.GatherTimeout == 0 {
		c.GatherTimeout = 5 * time.Second
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = 30 * time.Second
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = 5 * time.Second
	}
	if c.PLIInterval == 0 {
		c.PLIInterval = 2 * time.Second
	}
	if c.AudioTimeout == 0 {
		c.AudioTimeout = 5 * time.Second
	}
	if c.AudioPackViewers == 0 {
		c.AudioPackViewers = 100
	}
	if c.AudioPack == 0 {
		c.AudioPack = 60 * time.Millisecond
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// validate checks a Config that has its defaults applied.
func (c Config) validate() error {
	switch {
	case c.UDPMuxPort < 0 || c.UDPMuxPort > 65535:
		return fmt.Errorf("%w: UDPMuxPort %d out of range", ErrInvalidConfig, c.UDPMuxPort)
	case c.UDPMuxPort == 0 && (c.UDPPortMin == 0 || c.UDPPortMin > c.UDPPortMax):
		return fmt.Errorf("%w: UDP port range %d-%d", ErrInvalidConfig, c.UDPPortMin, c.UDPPortMax)
	case c.MaxViewers < 0:
		return fmt.Errorf("%w: MaxViewers %d is negative", ErrInvalidConfig, c.MaxViewers)
	case c.NACKBuffer&(c.NACKBuffer-1) != 0:
		return fmt.Errorf("%w: NACKBuffer %d is not a power of two", ErrInvalidConfig, c.NACKBuffer)
	case c.MaxSessionsPerConn < 0:
		return fmt.Errorf("%w: MaxSessionsPerConn %d is negative", ErrInvalidConfig, c.MaxSessionsPerConn)
	case c.MaxMessageBytes < 4<<10:
		return fmt.Errorf("%w: MaxMessageBytes %d is below 4 KiB", ErrInvalidConfig, c.MaxMessageBytes)
	case c.AudioPack < 40*time.Millisecond || c.AudioPack > opusMaxPacket:
		return fmt.Errorf("%w: AudioPack %v is not within 40-120ms", ErrInvalidConfig, c.AudioPack)
	case c.GatherTimeout < 0 || c.ConnectTimeout < 0 || c.StartTimeout < 0 || c.PLIInterval < 0 || c.AudioTimeout < 0:
		return fmt.Errorf("%w: negative timeout", ErrInvalidConfig)
	}
	for _, ip := range c.AdvertiseIPs {
		if net.ParseIP(ip) == nil {
			return fmt.Errorf("%w: AdvertiseIPs: %q is not an IP address", ErrInvalidConfig, ip)
		}
	}
	for _, s := range c.ICEServers {
		if len(s.URLs) == 0 {
			return fmt.Errorf("%w: an ICE server has no URL", ErrInvalidConfig)
		}
	}
	return nil
}
