package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/colony-live/colony/adapters/rest"
)

// Config is the YAML configuration file. Every field has a default (see
// defaultConfig); flags override the file.
type Config struct {
	// Mode is "standalone" (embedded store in DataDir) or "cluster" (MongoDB).
	Mode string `yaml:"mode"`
	// HTTPAddr serves HLS, WebRTC signalling, REST and the dashboard (default ":5080").
	HTTPAddr string `yaml:"http_addr"`
	// RTMPAddr takes RTMP publishers (default ":1935").
	RTMPAddr string `yaml:"rtmp_addr"`
	// RelayAddr serves edge pulls in cluster mode; keep it internal (default ":5000").
	RelayAddr string `yaml:"relay_addr"`
	// DataDir holds the standalone store and the node id (default "./data").
	DataDir string `yaml:"data_dir"`
	// LogLevel is debug, info, warn or error (default info).
	LogLevel string `yaml:"log_level"`
	// Apps are the applications served (default LiveApp, WebRTCAppEE).
	Apps []string `yaml:"apps"`
	// ServedByHeader adds X-Served-By: <node id> to every HTTP response (default true).
	ServedByHeader *bool `yaml:"served_by_header"`
	// HTTPLane answers HLS GETs on a lean HTTP/1.1 connection loop instead
	// of net/http's (default true; adapters/http1).
	HTTPLane *bool `yaml:"http_lane"`
	// TLS serves what HTTPAddr serves over HTTPS (HTTP/2 and HTTP/1.1),
	// when a certificate is given.
	TLS    TLSConfig    `yaml:"tls"`
	Node   NodeConfig   `yaml:"node"`
	Mongo  MongoConfig  `yaml:"mongo"`
	HLS    HLSConfig    `yaml:"hls"`
	WebRTC WebRTCConfig `yaml:"webrtc"`
	// REST controls who may use the REST API and the dashboard.
	REST rest.AccessConfig `yaml:"rest"`
	// ClusterSecret signs relay tokens between nodes; every node of a cluster needs the same one.
	ClusterSecret string `yaml:"cluster_secret"`
	// Transcoder runs the ABR transcoder plugins (see transcode.go).
	Transcoder TranscoderConfig `yaml:"transcoder"`
	// ABR is each application's default ladder, used when neither the
	// broadcast nor the application settings have one, as
	// {LiveApp: [{height: 480, video_bitrate: 800000, audio_bitrate: 64000}]}
	// (default none: nothing is transcoded unless configured).
	ABR map[string][]RungConfig `yaml:"abr"`
	// Runtime tunes the Go runtime.
	Runtime RuntimeConfig `yaml:"runtime"`
}

// TLSConfig is the HTTPS listener, Ant Media's 5443.
type TLSConfig struct {
	// CertFile (the certificate chain, leaf first) and KeyFile (its key),
	// PEM; both or neither. They are read again when they change, at most
	// every 10 s, so a renewal needs no restart (adapters/certfile).
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// Addr is the HTTPS listen address (default ":5443").
	Addr string `yaml:"addr"`
}

// RuntimeConfig tunes the Go runtime.
type RuntimeConfig struct {
	// AdaptiveProcs keeps GOMAXPROCS at what the node's CPU use needs,
	// from 1 up to the machine's (or cgroup's) CPUs: a lightly loaded
	// node then spends less on waking idle threads (default true; the
	// GOMAXPROCS environment variable, when set, turns it off).
	AdaptiveProcs *bool `yaml:"adaptive_procs"`
}

// TranscoderConfig selects and pins the transcoder plugins.
type TranscoderConfig struct {
	// Plugin is auto (the first GPU plugin whose probe passes, else
	// ffmpeg; the default), a plugin name (ffmpeg, nvenc, qsv ...) or none.
	Plugin string `yaml:"plugin"`
	// PluginDir holds the colony-transcoder-<name> executables (default:
	// the directory of the colony binary).
	PluginDir string `yaml:"plugin_dir"`
	// Checksums pins plugins by name to the hex SHA-256 of their
	// executable (colony plugins list prints it); a pinned plugin whose
	// file differs is not started.
	Checksums map[string]string `yaml:"checksums"`
	// OpusFrameMS is the duration of each Opus packet made from AAC audio
	// for WebRTC viewers: 10, 20 (the default), 40 or 60. Longer packets
	// mean fewer to send to every viewer (40 halves the audio's packets)
	// and add as many milliseconds to the audio's latency.
	OpusFrameMS int `yaml:"opus_frame_ms"`
}

// RungConfig is one rung of an ABR ladder.
type RungConfig struct {
	Height       int  `yaml:"height"`
	VideoBitrate int  `yaml:"video_bitrate"` // bits/s
	AudioBitrate int  `yaml:"audio_bitrate"` // bits/s
	ForceEncode  bool `yaml:"force_encode"`  // encode at the source's height when taller than it
}

// NodeConfig describes this node in a cluster.
type NodeConfig struct {
	// ID names the node (default: generated once and kept in DataDir/node-id).
	ID string `yaml:"id"`
	// Role is origin, edge or both (default both).
	Role string `yaml:"role"`
	// Group is the node group (default "default"); edges prefer origins of their group.
	Group string `yaml:"group"`
	// AdvertiseAddr is the address other nodes reach this one at (default: the host of
	// RelayAddr, or 127.0.0.1 when that is a wildcard).
	AdvertiseAddr string `yaml:"advertise_addr"`
	// PublicAddr is the address viewers use (default AdvertiseAddr).
	PublicAddr string `yaml:"public_addr"`
	// PurgeAfter removes dead nodes from the registry after this long (default 1h).
	PurgeAfter time.Duration `yaml:"purge_after"`
}

// MongoConfig is the cluster registry.
type MongoConfig struct {
	// URI is a mongodb:// or mongodb+srv:// connection string.
	URI string `yaml:"uri"`
	// Database (default "colony").
	Database string `yaml:"database"`
}

// WebRTCConfig tunes WebRTC (WHIP, WHEP, WebSocket signalling).
type WebRTCConfig struct {
	// UDPPortMin and UDPPortMax bound the ICE UDP ports (default 50000-60000).
	// These ports carry media: open them to viewers and publishers.
	UDPPortMin uint16 `yaml:"udp_port_min"`
	UDPPortMax uint16 `yaml:"udp_port_max"`
	// UDPMuxPort serves every session on this one UDP port (default 50000,
	// the first of the range, so a firewall rule for the range still
	// holds): sends are batched with sendmmsg and UDP GSO, about a quarter
	// less CPU per viewer. 0: each session gets its own port from the range.
	// Two nodes on one host need different ports.
	UDPMuxPort int `yaml:"udp_mux_port"`
	// MaxViewers refuses WebRTC viewers beyond this many (0: unlimited).
	MaxViewers int `yaml:"max_viewers"`
	// CPULimit refuses new viewers (highResourceUsage) while the server
	// uses more than this fraction of the machine's cores (default 0.9;
	// negative: never).
	CPULimit float64 `yaml:"cpu_limit"`
	// CPUOfMachine applies cpu_limit to the whole machine's CPU use rather
	// than the server's own (a machine shared with transcoders or others).
	CPUOfMachine bool `yaml:"cpu_of_machine"`
	// LagLimit refuses new viewers (highResourceUsage) while the viewers'
	// video frames leave this late after they entered the server, and
	// once that lasts 2 s sheds the newest viewers behind, a tenth at a time,
	// until the lag is back under it (default 200ms; 0 or negative: never).
	LagLimit time.Duration `yaml:"lag_limit"`
	// NACKBuffer is how many sent video packets each viewer keeps for
	// retransmission, a power of two (default 256: about 1.2 s at 2 Mbit/s).
	NACKBuffer uint16 `yaml:"nack_buffer"`
	// AudioPackViewers: from this many WebRTC viewers on the node, Opus
	// audio goes to viewers in packets of AudioPackMS, consecutive frames
	// joined (not re-encoded): with 20 ms frames and 60 ms packets a third
	// of the audio's packets, for more audio latency (40 ms at the server,
	// and a deeper jitter buffer in the browser: Chromium's mean delay 51-98
	// ms against 30-79); back to a frame a packet under three quarters of
	// it (default 100; negative: never).
	AudioPackViewers int `yaml:"audio_pack_viewers"`
	// AudioPackMS is the audio a packed Opus packet holds, 40 to 120 ms
	// (default 60).
	AudioPackMS int `yaml:"audio_pack_ms"`
	// STUNServers are handed to browsers by getIceServerConfig (default none).
	STUNServers []string `yaml:"stun_servers"`
}

// HLSConfig tunes HLS output.
type HLSConfig struct {
	// Variant is lowlatency (LL-HLS, fMP4 parts; default), fmp4 or mpegts.
	Variant string `yaml:"variant"`
	// SegmentCount is how many segments a playlist lists (default 7).
	SegmentCount int `yaml:"segment_count"`
	// SegmentDuration is the minimum segment length (default 1s).
	SegmentDuration time.Duration `yaml:"segment_duration"`
	// PartDuration is the minimum LL-HLS part length (default 120ms: 133 ms
	// parts at 30 fps, about 0.47 s glass-to-glass).
	PartDuration time.Duration `yaml:"part_duration"`
	// Directory, when set, is where the muxer keeps its copy of each
	// stream's segment window, and viewers are served from a copy in
	// memory: more CPU (one write per MP4 box) and, since segments in RAM
	// are held once at their exact size, no longer less memory. Empty
	// (default): in RAM.
	Directory string `yaml:"directory"`
	// SeparateAudio lists audio as its own media playlist in the fMP4
	// variants; false (default): audio rides in the video's segments and
	// parts, and players make half the requests.
	SeparateAudio bool `yaml:"separate_audio"`
	// Audio is what HLS carries of Opus audio (WebRTC publications): auto
	// (default: its AAC re-encoding by the transcoder plugin when there is
	// one, else the Opus), aac (AAC or no audio) or opus.
	Audio string `yaml:"audio"`
}

func defaultConfig() Config {
	t := true
	return Config{
		Mode: "standalone", HTTPAddr: ":5080", RTMPAddr: ":1935", RelayAddr: ":5000", TLS: TLSConfig{Addr: ":5443"},
		DataDir: "./data", LogLevel: "info", Apps: []string{"LiveApp", "WebRTCAppEE"},
		ServedByHeader: &t, HTTPLane: &t,
		Node:  NodeConfig{Role: "both", Group: "default", PurgeAfter: time.Hour},
		Mongo: MongoConfig{Database: "colony"},
		HLS:   HLSConfig{Variant: "lowlatency", SegmentCount: 7, SegmentDuration: time.Second, PartDuration: 120 * time.Millisecond},
		WebRTC: WebRTCConfig{UDPPortMin: 50000, UDPPortMax: 60000, UDPMuxPort: 50000, LagLimit: 200 * time.Millisecond,
			AudioPackViewers: 100, AudioPackMS: 60},
		Transcoder: TranscoderConfig{Plugin: "auto"},
		Runtime:    RuntimeConfig{AdaptiveProcs: &t},
	}
}

// loadConfig reads path over the defaults. A missing file is not an error
// when path is empty.
func loadConfig(path string) (Config, error) {
	cfg := defaultConfig()
	if path == "" {
		return cfg, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return cfg, nil
	}
	if err != nil {
		return cfg, fmt.Errorf("read config: %w", err)
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		return cfg, fmt.Errorf("parse config %s: %w", path, err)
	}
	return cfg, cfg.validate()
}

func (c Config) validate() error {
	if err := c.REST.Validate(); err != nil {
		return fmt.Errorf("config rest: %w", err)
	}
	switch c.Mode {
	case "standalone":
	case "cluster":
		if c.Mongo.URI == "" {
			return errors.New("config: cluster mode needs mongo.uri (run: colony mode cluster <host>)")
		}
	default:
		return fmt.Errorf("config: mode %q is not standalone or cluster", c.Mode)
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		return errors.New("config: tls needs both cert_file and key_file")
	}
	switch c.HLS.Variant {
	case "lowlatency", "fmp4", "mpegts":
	default:
		return fmt.Errorf("config: hls.variant %q is not lowlatency, fmp4 or mpegts", c.HLS.Variant)
	}
	switch c.HLS.Audio {
	case "", "auto", "aac", "opus":
	default:
		return fmt.Errorf("config: hls.audio %q is not auto, aac or opus", c.HLS.Audio)
	}
	return c.validateTranscoder()
}

// configEdit sets one key of the config file: Path is the key's path
// ("mongo.uri"), Value a string, or nil to remove the key.
type configEdit struct {
	Path  string
	Value any
}

// editConfig changes only the given keys of the config file at path
// (created if missing), keeping everything else the operator wrote, comments
// included: rewriting the whole file from the parsed Config would also pin
// every default that was left out (an empty rest.allowed_cidrs, say, which
// means "no address" rather than the loopback default). The result must
// load as a valid config; it replaces the file atomically (temp file +
// rename).
func editConfig(path string, edits ...configEdit) error {
	var doc yaml.Node
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return fmt.Errorf("read config: %w", err)
	default:
		if err := yaml.Unmarshal(b, &doc); err != nil {
			return fmt.Errorf("parse config %s: %w", path, err)
		}
	}
	if doc.Kind == 0 {
		doc = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode, Tag: "!!map"}}}
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return fmt.Errorf("config %s: the top level is not a mapping", path)
	}
	for _, e := range edits {
		if err := setYAML(doc.Content[0], strings.Split(e.Path, "."), e.Value); err != nil {
			return fmt.Errorf("config %s: %s: %w", path, e.Path, err)
		}
	}
	out, err := yaml.Marshal(&doc)
	if err != nil {
		return err
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, out, 0o600); err != nil {
		return err
	}
	if _, err := loadConfig(tmp); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("the edited config would not load: %w", err)
	}
	return os.Rename(tmp, path)
}

// setYAML sets (or, with a nil value, removes) the key path in mapping m.
func setYAML(m *yaml.Node, path []string, value any) error {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value != path[0] {
			continue
		}
		v := m.Content[i+1]
		switch {
		case len(path) > 1 && v.Kind == yaml.MappingNode:
			return setYAML(v, path[1:], value)
		case len(path) > 1 && value == nil:
			return nil
		case len(path) > 1:
			*v = yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			return setYAML(v, path[1:], value)
		case value == nil:
			m.Content = append(m.Content[:i], m.Content[i+2:]...)
			return nil
		default:
			return v.Encode(value)
		}
	}
	if value == nil {
		return nil
	}
	k := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: path[0]}
	v := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	m.Content = append(m.Content, k, v)
	if len(path) > 1 {
		return setYAML(v, path[1:], value)
	}
	return v.Encode(value)
}
