package ffmpeg

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/colony-live/colony/adapters/gomaxprocs"
	transcoderv1 "github.com/colony-live/colony/plugins/transcoder/v1"
)

// Config configures a Plugin.
type Config struct {
	// Profile selects the encoder family (required: Software, NVENC or QSV).
	Profile Profile
	// FFmpeg is the ffmpeg executable (default "ffmpeg", looked up in PATH).
	FFmpeg string
	// Version is reported by Probe (default "dev").
	Version string
	// Logger receives the plugin's and ffmpeg's messages (default: none).
	Logger hclog.Logger
	// ProbeTimeout bounds the trial encode (default 20 s: a GPU's first
	// context creation can take seconds).
	ProbeTimeout time.Duration
}

func (c Config) withDefaults() (Config, error) {
	if c.Profile.Name == "" || c.Profile.Encoder == "" {
		return c, errors.New("ffmpeg plugin: no profile")
	}
	if c.FFmpeg == "" {
		c.FFmpeg = "ffmpeg"
	}
	if c.Version == "" {
		c.Version = "dev"
	}
	if c.Logger == nil {
		c.Logger = hclog.NewNullLogger()
	}
	if c.ProbeTimeout <= 0 {
		c.ProbeTimeout = 20 * time.Second
	}
	return c, nil
}

// Plugin implements transcoderv1.Transcoder with ffmpeg.
type Plugin struct {
	cfg Config

	mu       sync.Mutex
	sessions map[*session]struct{}
	closed   bool
}

var _ transcoderv1.Transcoder = (*Plugin)(nil)

// New returns a plugin with cfg.
func New(cfg Config) (*Plugin, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Plugin{cfg: cfg, sessions: map[*session]struct{}{}}, nil
}

// Codecs are the codecs the plugin produces.
var codecsOut = [...]string{codecH264, codecAAC, codecOpus}

// Probe runs a one-frame trial encode through the profile's whole chain.
func (p *Plugin) Probe(ctx context.Context) (*transcoderv1.ProbeResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.ProbeTimeout)
	defer cancel()
	ok, reason := p.cfg.Profile.trial(ctx, p.cfg.FFmpeg)
	if ok {
		p.cfg.Logger.Debug("probe passed", "encoder", p.cfg.Profile.Encoder)
	} else {
		p.cfg.Logger.Info("probe failed", "encoder", p.cfg.Profile.Encoder, "reason", reason)
	}
	return &transcoderv1.ProbeResponse{
		Name: p.cfg.Profile.Name, Version: p.cfg.Version, ApiVersion: transcoderv1.ProtocolVersion,
		Codecs: codecsOut[:], HardwareOk: ok, Reason: reason,
		Encoder: p.cfg.Profile.Encoder, Hardware: p.cfg.Profile.Hardware,
	}, nil
}

// Transcode starts ffmpeg for one session.
func (p *Plugin) Transcode(ctx context.Context, start *transcoderv1.Start) (transcoderv1.Session, error) {
	j, err := newJob(start)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, status.Error(codes.Unavailable, "plugin is shutting down")
	}
	log := p.cfg.Logger.With("session", start.GetSession())
	s, err := startSession(ctx, p.cfg.FFmpeg, p.cfg.Profile, j, log)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	p.sessions[s] = struct{}{}
	go func() {
		<-s.done
		p.mu.Lock()
		delete(p.sessions, s)
		p.mu.Unlock()
	}()
	return s, nil
}

// Close kills every session's ffmpeg and waits for them to end.
func (p *Plugin) Close() {
	p.mu.Lock()
	p.closed = true
	ss := make([]*session, 0, len(p.sessions))
	for s := range p.sessions {
		ss = append(ss, s)
	}
	p.mu.Unlock()
	for _, s := range ss {
		s.stop()
	}
}

// Main is the whole main function of a plugin binary: it serves the
// profile until the host closes the plugin.
func Main(profile Profile, version string) {
	logger := hclog.New(&hclog.LoggerOptions{
		Name: profile.Name, Level: hclog.Debug, Output: os.Stderr, JSONFormat: true,
	})
	p, err := New(Config{Profile: profile, Version: version, Logger: logger})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if os.Getenv(transcoderv1.MagicCookieKey) == "" {
		fmt.Fprintf(os.Stderr, "%s%s is a Colony transcoder plugin: Colony starts it, it is not run by hand.\n",
			transcoderv1.BinaryPrefix, profile.Name)
		os.Exit(1)
	}
	go watchParent(logger, p)
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	if g := newGovernor(os.Getenv); g != nil {
		wg.Go(func() { _ = g.Run(ctx) })
	}
	transcoderv1.Serve(p, logger)
	stop()
	wg.Wait()
	p.Close()
}

// newGovernor returns the plugin's adaptive GOMAXPROCS governor (as the
// server has), or nil when the GOMAXPROCS environment variable is set.
// The plugin's own process only moves bytes between the server and
// ffmpeg, a few hundred small messages a second per session: with a
// processor per core the Go runtime spent more waking and parking its
// idle threads than on that work (an audio-only session, AAC to Opus for
// WebRTC: 0.041-0.042 cores with two processors, 0.028-0.033 with the
// governor, which settles on one; BENCHMARKS.md).
// The governor adds processors when the process is busy.
func newGovernor(getenv func(string) string) *gomaxprocs.Governor {
	if getenv("GOMAXPROCS") != "" {
		return nil
	}
	return gomaxprocs.New(gomaxprocs.Config{})
}

// watchParent ends the plugin when the host process is gone (killed before
// it could close its plugins): go-plugin does not notice by itself.
func watchParent(logger hclog.Logger, p *Plugin) {
	parent := os.Getppid()
	for range time.Tick(time.Second) {
		if os.Getppid() != parent {
			logger.Warn("the host process is gone; exiting")
			p.Close()
			os.Exit(0)
		}
	}
}
