package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/colony-live/colony/adapters/pluginhost"
)

func TestEditConfigKeepsTheRest(t *testing.T) {
	tests := []struct {
		name   string
		before string // "" = no file
		edits  []configEdit
		check  func(t *testing.T, text string, cfg Config)
	}{
		{
			name:   "to cluster, comments and other keys kept, defaults not pinned",
			before: "# my node\nlog_level: debug # chatty\nrest:\n  jwt_secret: \"0123456789abcdef0123456789abcdef\"\n",
			edits:  []configEdit{{"mode", "cluster"}, {"mongo.uri", "mongodb://db1:27017/"}, {"mongo.database", "colony"}, {"cluster_secret", "s3cret"}},
			check: func(t *testing.T, text string, cfg Config) {
				for _, want := range []string{"# my node", "# chatty", "log_level: debug", "jwt_secret:"} {
					if !strings.Contains(text, want) {
						t.Errorf("lost %q:\n%s", want, text)
					}
				}
				if strings.Contains(text, "allowed_cidrs") || strings.Contains(text, "hls:") {
					t.Errorf("defaults written into the file:\n%s", text)
				}
				if cfg.Mode != "cluster" || cfg.Mongo.URI != "mongodb://db1:27017/" || cfg.Mongo.Database != "colony" || cfg.ClusterSecret != "s3cret" || cfg.LogLevel != "debug" {
					t.Errorf("loaded %+v", cfg)
				}
				if cfg.REST.AllowedCIDRs != nil {
					t.Errorf("rest.allowed_cidrs = %v, want unset (loopback default)", cfg.REST.AllowedCIDRs)
				}
			},
		},
		{
			name:  "no file yet",
			edits: []configEdit{{"mode", "cluster"}, {"mongo.uri", "mongodb://db1/"}},
			check: func(t *testing.T, _ string, cfg Config) {
				if cfg.Mode != "cluster" || cfg.Mongo.URI != "mongodb://db1/" {
					t.Errorf("loaded %+v", cfg)
				}
			},
		},
		{
			name:   "back to standalone removes the uri",
			before: "mode: cluster\nmongo:\n  uri: mongodb://u:p@db1/\n  database: colony\ncluster_secret: x\n",
			edits:  []configEdit{{"mode", "standalone"}, {"mongo.uri", nil}},
			check: func(t *testing.T, text string, cfg Config) {
				if cfg.Mode != "standalone" || cfg.Mongo.URI != "" || strings.Contains(text, "u:p@") {
					t.Errorf("loaded %+v from:\n%s", cfg, text)
				}
				if cfg.Mongo.Database != "colony" || cfg.ClusterSecret != "x" {
					t.Errorf("other keys lost: %+v", cfg)
				}
			},
		},
		{
			name:   "a scalar where a section is expected is replaced",
			before: "mongo: none\n",
			edits:  []configEdit{{"mongo.uri", "mongodb://db1/"}, {"mode", "cluster"}},
			check: func(t *testing.T, _ string, cfg Config) {
				if cfg.Mongo.URI != "mongodb://db1/" {
					t.Errorf("loaded %+v", cfg)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "colony.yaml")
			if tc.before != "" {
				if err := os.WriteFile(path, []byte(tc.before), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if err := editConfig(path, tc.edits...); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := loadConfig(path)
			if err != nil {
				t.Fatalf("edited config does not load: %v\n%s", err, b)
			}
			tc.check(t, string(b), cfg)
		})
	}
}

// An edit that would leave an invalid config (cluster mode without a
// registry) leaves the file as it was.
func TestEditConfigRefusesInvalidResult(t *testing.T) {
	path := filepath.Join(t.TempDir(), "colony.yaml")
	before := []byte("# keep me\nmode: standalone\n")
	if err := os.WriteFile(path, before, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := editConfig(path, configEdit{"mode", "cluster"}); err == nil {
		t.Fatal("cluster mode without mongo.uri accepted")
	}
	after, _ := os.ReadFile(path)
	if string(after) != string(before) {
		t.Fatalf("file changed to:\n%s", after)
	}
	if _, err := os.Stat(path + ".tmp"); !os.IsNotExist(err) {
		t.Fatalf("temp file left behind: %v", err)
	}
}

func TestLoadConfigRuntimeDefaults(t *testing.T) {
	tests := []struct {
		name     string
		file     string
		wantMux  int
		wantProc bool
	}{
		{"defaults", "", 50000, true},
		{"port range and runtime's own procs", "webrtc:\n  udp_mux_port: 0\nruntime:\n  adaptive_procs: false\n", 0, false},
		{"another mux port", "webrtc:\n  udp_mux_port: 50010\n", 50010, true},
	}
	t.Setenv("GOMAXPROCS", "") // as on a machine that does not set it
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := loadConfigText(t, tt.file)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.WebRTC.UDPMuxPort != tt.wantMux {
				t.Errorf("udp_mux_port = %d, want %d", cfg.WebRTC.UDPMuxPort, tt.wantMux)
			}
			if got := cfg.Runtime.AdaptiveProcs != nil && *cfg.Runtime.AdaptiveProcs; got != tt.wantProc {
				t.Errorf("adaptive_procs = %v, want %v", got, tt.wantProc)
			}
			if got := newGovernor(cfg.Runtime, slog.New(slog.DiscardHandler)) != nil; got != tt.wantProc {
				t.Errorf("governor started = %v, want %v", got, tt.wantProc)
			}
		})
	}
	t.Run("GOMAXPROCS in the environment wins", func(t *testing.T) {
		t.Setenv("GOMAXPROCS", "2")
		on := true
		if g := newGovernor(RuntimeConfig{AdaptiveProcs: &on}, slog.New(slog.DiscardHandler)); g != nil {
			t.Fatal("governor started although GOMAXPROCS is set")
		}
	})
}

func TestTranscoderOpusFrame(t *testing.T) {
	tests := []struct {
		name, file string
		want       time.Duration // the plugin host's setting (0: its default, 20 ms)
		refused    bool
	}{
		{"default", "", 0, false},
		{"40 ms", "transcoder:\n  opus_frame_ms: 40\n", 40 * time.Millisecond, false},
		{"60 ms", "transcoder:\n  opus_frame_ms: 60\n", 60 * time.Millisecond, false},
		{"30 ms", "transcoder:\n  opus_frame_ms: 30\n", 0, true},
		{"negative", "transcoder:\n  opus_frame_ms: -20\n", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := loadConfigText(t, tt.file)
			if tt.refused {
				if err == nil || !strings.Contains(err.Error(), "transcoder.opus_frame_ms") {
					t.Fatalf("error = %v, want one naming transcoder.opus_frame_ms", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			hc := pluginHostConfig(cfg.Transcoder, t.TempDir(), slog.New(slog.DiscardHandler))
			if hc.OpusFrame != tt.want {
				t.Fatalf("the plugin host's Opus frame is %v, want %v", hc.OpusFrame, tt.want)
			}
			h, err := pluginhost.New(hc)
			if err != nil {
				t.Fatalf("the plugin host refuses the setting: %v", err)
			}
			if err := h.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// loadConfigText loads text as a colony.yaml.
func loadConfigText(t *testing.T, text string) (Config, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "colony.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return loadConfig(path)
}

// TestLoadConfigAudioPacking: webrtc.audio_pack_* from the file (or the
// defaults) reach the WebRTC server's configuration.
func TestLoadConfigAudioPacking(t *testing.T) {
	tests := []struct {
		name        string
		file        string
		wantViewers int
		wantMS      int
	}{
		{"defaults", "", 100, 60},
		{"never", "webrtc:\n  audio_pack_viewers: -1\n", -1, 60},
		{"sooner, shorter", "webrtc:\n  audio_pack_viewers: 20\n  audio_pack_ms: 40\n", 20, 40},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := loadConfigText(t, tt.file)
			if err != nil {
				t.Fatal(err)
			}
			// What the node gives its WebRTC server.
			wc := webrtcConfig(cfg)
			if wc.AudioPackViewers != tt.wantViewers || wc.AudioPack != time.Duration(tt.wantMS)*time.Millisecond {
				t.Errorf("webrtc.Config AudioPackViewers %d, AudioPack %v; want %d, %d ms",
					wc.AudioPackViewers, wc.AudioPack, tt.wantViewers, tt.wantMS)
			}
		})
	}
}

func TestLoadConfigTLS(t *testing.T) {
	tests := []struct {
		name, file string
		want       TLSConfig
		err        string
	}{
		{"off by default", "", TLSConfig{Addr: ":5443"}, ""},
		{"both files", "tls:\n  cert_file: /etc/c.pem\n  key_file: /etc/k.pem\n", TLSConfig{CertFile: "/etc/c.pem", KeyFile: "/etc/k.pem", Addr: ":5443"}, ""},
		{"another port", "tls:\n  cert_file: /c\n  key_file: /k\n  addr: 127.0.0.1:8443\n", TLSConfig{CertFile: "/c", KeyFile: "/k", Addr: "127.0.0.1:8443"}, ""},
		{"certificate alone", "tls:\n  cert_file: /c\n", TLSConfig{}, "both cert_file and key_file"},
		{"key alone", "tls:\n  key_file: /k\n", TLSConfig{}, "both cert_file and key_file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := loadConfigText(t, tt.file) // loading validates
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("load: %v, want an error saying %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.TLS != tt.want {
				t.Fatalf("tls = %+v, want %+v", cfg.TLS, tt.want)
			}
		})
	}
}
