package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/colony-live/colony/adapters/hls"
	"github.com/colony-live/colony/adapters/pluginhost"
	"github.com/colony-live/colony/adapters/rest"
	"github.com/colony-live/colony/core/engine"
	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
)

// Adaptive bitrate wiring: the plugin host transcodes (engine.Deps.Transcoder
// and AudioBridge), ladders come from the broadcast, the application
// settings or the configuration (ladders), the HLS server lists renditions
// through the engine (renditionsRef), and the REST API manages the plugins
// (pluginAPI).

// pluginPrefix starts every transcoder plugin's file name.
const pluginPrefix = "colony-transcoder-"

// pluginNone turns transcoding off.
const pluginNone = "none"

// validateTranscoder checks the transcoder and abr sections.
func (c Config) validateTranscoder() error {
	switch p := c.Transcoder.Plugin; {
	case p == "", p == pluginhost.Auto, p == pluginNone:
	case !validPluginName(p):
		return fmt.Errorf("config: transcoder.plugin %q is not auto, none or a plugin name", p)
	}
	if ms := c.Transcoder.OpusFrameMS; ms != 0 && !pluginhost.ValidOpusFrame(time.Duration(ms)*time.Millisecond) {
		return fmt.Errorf("config: transcoder.opus_frame_ms %d is not 10, 20, 40 or 60", ms)
	}
	for name, sum := range c.Transcoder.Checksums {
		if b, err := hex.DecodeString(sum); err != nil || len(b) != sha256.Size || !validPluginName(name) {
			return fmt.Errorf("config: transcoder.checksums.%s is not a plugin name with a hex SHA-256", name)
		}
	}
	for app, rungs := range c.ABR {
		if _, err := stream.ParseApp(app); err != nil {
			return fmt.Errorf("config: abr: %w", err)
		}
		if err := stream.ValidateLadder(ladderOf(rungs)); err != nil {
			return fmt.Errorf("config: abr.%s: %w", app, err)
		}
	}
	return nil
}

// validPluginName reports whether name can follow colony-transcoder- in a
// file name (what the plugin host discovers).
func validPluginName(name string) bool {
	if name == "" || len(name) > 64 {
		return false
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func ladderOf(rungs []RungConfig) []stream.Rendition {
	var out []stream.Rendition
	for _, r := range rungs {
		out = append(out, stream.Rendition{Height: r.Height, VideoBitrate: r.VideoBitrate, AudioBitrate: r.AudioBitrate, ForceEncode: r.ForceEncode})
	}
	return out
}

// ladders returns the engine's LadderFunc: the broadcast's own ladder
// (REST create's encoderSettingsList), else the application settings'
// (encoderSettings), else the configuration's abr entry for the app.
func ladders(cfg Config, catalog ports.StreamCatalog, settings ports.AppSettingsStore) engine.LadderFunc {
	fromConfig := map[stream.App][]stream.Rendition{}
	for app, rungs := range cfg.ABR {
		fromConfig[stream.App(app)] = ladderOf(rungs)
	}
	return func(ctx context.Context, key stream.Key) ([]stream.Rendition, error) {
		b, err := catalog.Broadcast(ctx, key)
		switch {
		case err == nil && len(b.Ladder) > 0:
			return b.Ladder, nil
		case err != nil && !errors.Is(err, ports.ErrNotFound):
			return nil, fmt.Errorf("broadcast ladder: %w", err)
		}
		if settings != nil {
			s, err := settings.AppSettings(ctx, key.App)
			if err != nil {
				return nil, fmt.Errorf("application ladder: %w", err)
			}
			if len(s.Ladder) > 0 {
				return s.Ladder, nil
			}
		}
		return fromConfig[key.App], nil
	}
}

// pluginDir is where the transcoder plugins live: the configured
// directory, else the colony binary's.
func pluginDir(cfg TranscoderConfig) (string, error) {
	if cfg.PluginDir != "" {
		return cfg.PluginDir, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("plugin directory: %w", err)
	}
	if real, err := filepath.EvalSymlinks(exe); err == nil {
		exe = real
	}
	return filepath.Dir(exe), nil
}

// newPluginHost returns the plugin host the configuration asks for; nil
// (and no error) when transcoding is off, or when plugin is auto and the
// plugin directory cannot be read (then nothing is transcoded).
func newPluginHost(cfg TranscoderConfig, log *slog.Logger) (*pluginhost.Host, string, error) {
	if cfg.Plugin == pluginNone {
		log.Info("transcoding off (transcoder.plugin: none)")
		return nil, "", nil
	}
	dir, err := pluginDir(cfg)
	if err != nil {
		return nil, "", err
	}
	h, err := pluginhost.New(pluginHostConfig(cfg, dir, log))
	if err != nil {
		if cfg.Plugin == "" || cfg.Plugin == pluginhost.Auto {
			log.Warn("no transcoder plugins: nothing will be transcoded", "dir", dir, "err", err)
			return nil, "", nil
		}
		return nil, "", fmt.Errorf("transcoder: %w", err)
	}
	log.Info("transcoder plugins", "dir", dir, "plugins", h.List(), "plugin", cfg.Plugin)
	return h, dir, nil
}

// pluginHostConfig is the plugin host's configuration for cfg, with the
// plugins in dir.
func pluginHostConfig(cfg TranscoderConfig, dir string, log *slog.Logger) pluginhost.Config {
	return pluginhost.Config{Dir: dir, Plugin: cfg.Plugin, Checksums: cfg.Checksums,
		OpusFrame: time.Duration(cfg.OpusFrameMS) * time.Millisecond, Logger: log}
}

// renditionsRef forwards to the engine once it exists (the HLS server is
// built first).
type renditionsRef struct{ hls.Renditions }

// pluginAPI adapts the plugin host to the REST API.
type pluginAPI struct {
	h   *pluginhost.Host
	dir string
}

var _ rest.Plugins = pluginAPI{}

func (p pluginAPI) Plugins() ([]rest.PluginInfo, error) {
	var out []rest.PluginInfo
	for _, name := range p.h.List() {
		path := filepath.Join(p.dir, pluginPrefix+name)
		sum, err := fileSHA256(path)
		if err != nil {
			return nil, err
		}
		out = append(out, rest.PluginInfo{Name: name, Path: path, SHA256: sum})
	}
	return out, nil
}

func (p pluginAPI) Active() string { return p.h.Current() }

func (p pluginAPI) Probe(ctx context.Context, name string) (rest.PluginProbe, error) {
	pr, err := p.h.Probe(ctx, name)
	if err != nil {
		return rest.PluginProbe{}, restPluginError(err)
	}
	return rest.PluginProbe{Name: name, Version: pr.Version, Encoder: pr.Encoder, Codecs: pr.Codecs,
		Hardware: pr.Hardware, OK: pr.OK, Reason: pr.Reason}, nil
}

func (p pluginAPI) Activate(ctx context.Context, name string) error {
	_, err := p.h.Select(ctx, name)
	return restPluginError(err)
}

// restPluginError tags the plugin host's errors with the API's.
func restPluginError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, pluginhost.ErrUnknownPlugin):
		return fmt.Errorf("%w: %w", rest.ErrUnknownPlugin, err)
	case errors.Is(err, pluginhost.ErrUnavailable):
		return fmt.Errorf("%w: %w", rest.ErrPluginUnavailable, err)
	}
	return err
}

// fileSHA256 returns the hex SHA-256 of a file.
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// pluginFileName returns the plugin name of a colony-transcoder-<name> file.
func pluginFileName(path string) (string, bool) {
	name, ok := strings.CutPrefix(filepath.Base(path), pluginPrefix)
	return name, ok && validPluginName(name)
}
