package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/colony-live/colony/adapters/bbolt"
	"github.com/colony-live/colony/adapters/gomaxprocs"
	"github.com/colony-live/colony/adapters/hls"
	"github.com/colony-live/colony/adapters/metrics"
	"github.com/colony-live/colony/adapters/mongo"
	"github.com/colony-live/colony/adapters/procfs"
	"github.com/colony-live/colony/adapters/relay"
	"github.com/colony-live/colony/adapters/rtmp"
	"github.com/colony-live/colony/adapters/webrtc"
	"github.com/colony-live/colony/core/engine"
	"github.com/colony-live/colony/ports"
)

// openStore opens the standalone or the cluster store.
func openStore(ctx context.Context, cfg Config, log *slog.Logger) (ports.Store, error) {
	switch cfg.Mode {
	case "standalone":
		s, err := bbolt.Open(filepath.Join(cfg.DataDir, "colony.db"), bbolt.Options{})
		if err != nil {
			return nil, err
		}
		return s, nil
	case "cluster":
		s, err := mongo.Open(ctx, mongo.Config{URI: cfg.Mongo.URI, Database: cfg.Mongo.Database, Logger: log})
		if err != nil {
			return nil, fmt.Errorf("cluster registry: %w", err)
		}
		return s, nil
	}
	return nil, fmt.Errorf("mode %q is not standalone or cluster", cfg.Mode)
}

// persistentNodeID returns the node id kept in dir, creating one the first time.
func persistentNodeID(dir string) (string, error) {
	p := filepath.Join(dir, "node-id")
	b, err := os.ReadFile(p)
	if err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b)), nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("node id: %w", err)
	}
	host, _ := os.Hostname()
	if host == "" {
		host = "node"
	}
	r := make([]byte, 4)
	_, _ = rand.Read(r)
	id := strings.Map(func(c rune) rune {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' {
			return c
		}
		return '-'
	}, host) + "-" + hex.EncodeToString(r)
	if err := os.WriteFile(p, []byte(id+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("node id: %w", err)
	}
	return id, nil
}

// registerMetrics exposes the components' counters.
func registerMetrics(reg *metrics.Registry, eng *engine.Engine, h *hls.Server, w *webrtc.Server, r *rtmp.Server, rl *relay.Server) {
	type agg struct{ streams, readers, unitsIn, bytesIn, dropped float64 }
	sum := func() agg {
		var a agg
		for _, ls := range eng.Live() {
			a.streams++
			if ls.Stream != nil {
				st := ls.Stream.Stats()
				a.readers += float64(st.Readers)
				a.unitsIn += float64(st.UnitsIn)
				a.bytesIn += float64(st.BytesIn)
				a.dropped += float64(st.Dropped)
			}
		}
		return a
	}
	reg.Gauge("streams", "Streams live on this node (published or pulled).", func() float64 { return sum().streams })
	reg.Gauge("stream_readers", "Readers attached to live streams (outputs and viewers).", func() float64 { return sum().readers })
	reg.Gauge("stream_bytes_in", "Media bytes received by the streams live now.", func() float64 { return sum().bytesIn })
	reg.Gauge("stream_dropped_units", "Units dropped for slow readers of the streams live now.", func() float64 { return sum().dropped })
	reg.Counter("hls_requests_total", "HLS HTTP requests.", func() float64 { return float64(h.Stats().Requests) })
	reg.Counter("hls_bytes_out_total", "HLS response bytes.", func() float64 { return float64(h.Stats().BytesOut) })
	reg.Gauge("hls_segment_memory_bytes", "HLS segment memory mapped outside the Go heap.", func() float64 { return float64(h.Stats().SegmentBytes) })
	reg.Gauge("hls_segment_memory_expired_bytes", "Of it, segments that left every window, released once no reader holds them.", func() float64 { return float64(h.Stats().ExpiredBytes) })
	reg.Gauge("webrtc_viewers", "WebRTC viewers.", func() float64 { return float64(w.Stats().Viewers) })
	reg.Gauge("webrtc_send_lag_seconds", "How late WebRTC viewers' video frames leave (90th percentile over viewers, last second).", func() float64 { return w.Stats().SendLag.Seconds() })
	reg.Counter("webrtc_viewers_refused_cpu_total", "WebRTC viewers refused over webrtc.cpu_limit.", func() float64 { return float64(w.Stats().RefusedByCPU) })
	reg.Counter("webrtc_viewers_refused_lag_total", "WebRTC viewers refused over webrtc.lag_limit.", func() float64 { return float64(w.Stats().RefusedByLag) })
	reg.Counter("webrtc_direct_viewers_total", "WebRTC viewers sent on the direct SRTP path (encrypted and queued on the muxed socket without pion's transport layers).", func() float64 { return float64(w.Stats().DirectViewers) })
	reg.Gauge("webrtc_audio_packed", "1 while the node's WebRTC audience is large enough for Opus audio in packets of several frames (webrtc.audio_pack_viewers), else 0.", func() float64 {
		if w.Stats().AudioPacked {
			return 1
		}
		return 0
	})
	reg.Counter("webrtc_fanout_skips_total", "Times a WebRTC fan-out fell over a second (4× webrtc.lag_limit) behind its stream and skipped to a fresh keyframe, or dropped an old audio frame.", func() float64 { return float64(w.Stats().FanoutSkips) })
	reg.Counter("webrtc_retransmissions_total", "Video packets resent to WebRTC viewers for their NACKs.", func() float64 { return float64(w.Stats().Retransmitted) })
	reg.Counter("webrtc_retransmissions_refused_total", "Retransmissions WebRTC viewers asked for and were refused: each viewer's are bounded to half its video's rate, plus a 128 KB burst.", func() float64 { return float64(w.Stats().RetransmitsRefused) })
	reg.Counter("webrtc_viewers_shed_total", "WebRTC viewers closed to bring the send lag back under webrtc.lag_limit.", func() float64 { return float64(w.Stats().Shed) })
	if r != nil {
		reg.Gauge("rtmp_connections", "Open RTMP connections.", func() float64 { return float64(r.Stats().Connections) })
		reg.Counter("rtmp_bytes_in_total", "Bytes received over RTMP.", func() float64 { return float64(r.Stats().BytesIn) })
	}
	if rl != nil {
		reg.Gauge("relay_sessions_active", "Nodes pulling a stream from this one now (edges from an origin, edges of a group from its carrier).", func() float64 { return float64(rl.Stats().Active) })
		reg.Counter("relay_sessions_total", "Relay sessions served since start.", func() float64 { return float64(rl.Stats().Total) })
		reg.Counter("relay_bytes_out_total", "Bytes sent to edges.", func() float64 { return float64(rl.Stats().BytesOut) })
	}
}

// newWebRTC builds the WebRTC server (WHIP, WHEP, WebSocket signalling).
func newWebRTC(cfg Config, log *slog.Logger, ingest ports.Ingest, play ports.Playback, audio ports.AudioCompanions, rends webrtc.Renditions) (*webrtc.Server, error) {
	wc := webrtcConfig(cfg)
	wc.Logger, wc.Audio, wc.Renditions = log, audio, rends
	return webrtc.New(wc, ingest, play)
}

// webrtcConfig is the WebRTC server's configuration from the node's.
func webrtcConfig(cfg Config) webrtc.Config {
	// Without an advertised address, candidates are the interfaces' own
	// addresses (loopback included, for a browser on the same machine).
	ip := net.ParseIP(cfg.Node.AdvertiseAddr)
	wc := webrtc.Config{IncludeLoopback: ip == nil,
		UDPPortMin: cfg.WebRTC.UDPPortMin, UDPPortMax: cfg.WebRTC.UDPPortMax, UDPMuxPort: cfg.WebRTC.UDPMuxPort,
		MaxViewers: cfg.WebRTC.MaxViewers, CPULimit: cfg.WebRTC.CPULimit, NACKBuffer: cfg.WebRTC.NACKBuffer,
		AudioPackViewers: cfg.WebRTC.AudioPackViewers, AudioPack: time.Duration(cfg.WebRTC.AudioPackMS) * time.Millisecond,
	}
	if wc.LagLimit = cfg.WebRTC.LagLimit; wc.LagLimit <= 0 {
		wc.LagLimit = -1 // 0 in the file turns the guard off (0 is webrtc's default)
	}
	if cfg.WebRTC.CPUOfMachine {
		wc.MachineLoad = procfs.New("") // its own sampler: Sample measures since its previous call
	}
	switch {
	case ip != nil && ip.IsLoopback():
		// A node on a loopback address (tests, several nodes on one
		// machine): the loopback interface holds only 127.0.0.1 (or ::1),
		// so offer that, whichever 127.x address the node advertises.
		wc.IncludeLoopback = true
		v4 := ip.To4() != nil
		wc.IPFilter = func(x net.IP) bool { return x.IsLoopback() && (x.To4() != nil) == v4 }
	case ip != nil:
		wc.AdvertiseIPs = []string{ip.String()}
	}
	for _, s := range cfg.WebRTC.STUNServers {
		wc.ICEServers = append(wc.ICEServers, webrtc.ICEServer{URLs: []string{s}})
	}
	return wc
}

// newGovernor returns the adaptive GOMAXPROCS governor, or nil when the
// configuration or the GOMAXPROCS environment variable says otherwise.
func newGovernor(cfg RuntimeConfig, log *slog.Logger) *gomaxprocs.Governor {
	if cfg.AdaptiveProcs != nil && !*cfg.AdaptiveProcs {
		return nil
	}
	if os.Getenv("GOMAXPROCS") != "" {
		log.Info("GOMAXPROCS is set: adaptive processors off", "gomaxprocs", runtime.GOMAXPROCS(0))
		return nil
	}
	return gomaxprocs.New(gomaxprocs.Config{Logger: log})
}
