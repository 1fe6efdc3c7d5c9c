package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/sync/errgroup"

	"github.com/colony-live/colony/adapters/certfile"
	"github.com/colony-live/colony/adapters/dashboard"
	"github.com/colony-live/colony/adapters/hls"
	"github.com/colony-live/colony/adapters/http1"
	"github.com/colony-live/colony/adapters/metrics"
	"github.com/colony-live/colony/adapters/procfs"
	"github.com/colony-live/colony/adapters/rest"
	"github.com/colony-live/colony/adapters/rtmp"
	"github.com/colony-live/colony/core/engine"
	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/core/node"
	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
)

func runCommand() *cli.Command {
	return &cli.Command{
		Name:  "run",
		Usage: "run a node (standalone, or cluster member as the config says)",
		Flags: []cli.Flag{
			configFlag(),
			&cli.StringFlag{Name: "http-addr", Usage: "HTTP listen `ADDR` (HLS, WebRTC, REST, dashboard)"},
			&cli.StringFlag{Name: "https-addr", Usage: "HTTPS listen `ADDR`, with --tls-cert and --tls-key", DefaultText: "tls.addr, :5443"},
			&cli.StringFlag{Name: "tls-cert", Usage: "TLS certificate chain `FILE` (PEM): serve HTTPS too"},
			&cli.StringFlag{Name: "tls-key", Usage: "TLS private key `FILE` (PEM)"},
			&cli.StringFlag{Name: "rtmp-addr", Usage: "RTMP listen `ADDR`"},
			&cli.StringFlag{Name: "relay-addr", Usage: "internal relay listen `ADDR` (cluster)"},
			&cli.StringFlag{Name: "data-dir", Usage: "data `DIR` (standalone store, node id)"},
			&cli.StringFlag{Name: "log-level", Usage: "debug, info, warn or error"},
			&cli.StringFlag{Name: "role", Usage: "origin, edge or both"},
			&cli.StringFlag{Name: "node-group", Usage: "node `GROUP`"},
			&cli.StringFlag{Name: "node-id", Usage: "node `ID` (default: generated and kept in the data dir)"},
			&cli.StringFlag{Name: "advertise-addr", Usage: "`HOST` other nodes reach this node at"},
			&cli.IntFlag{Name: "udp-mux-port", Usage: "the one UDP `PORT` of every WebRTC session (0: a port per session from the range)", DefaultText: "webrtc.udp_mux_port, 50000"},
		},
		Action: func(c *cli.Context) error {
			cfg, err := loadConfig(c.String("config"))
			if err != nil {
				return err
			}
			applyRunFlags(c, &cfg)
			if err := cfg.validate(); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runNode(ctx, cfg, newLogger(cfg.LogLevel))
		},
	}
}

func applyRunFlags(c *cli.Context, cfg *Config) {
	set := func(name string, dst *string) {
		if c.IsSet(name) {
			*dst = c.String(name)
		}
	}
	set("http-addr", &cfg.HTTPAddr)
	set("https-addr", &cfg.TLS.Addr)
	set("tls-cert", &cfg.TLS.CertFile)
	set("tls-key", &cfg.TLS.KeyFile)
	set("rtmp-addr", &cfg.RTMPAddr)
	set("relay-addr", &cfg.RelayAddr)
	set("data-dir", &cfg.DataDir)
	set("log-level", &cfg.LogLevel)
	set("role", &cfg.Node.Role)
	set("node-group", &cfg.Node.Group)
	set("node-id", &cfg.Node.ID)
	set("advertise-addr", &cfg.Node.AdvertiseAddr)
	if c.IsSet("udp-mux-port") {
		cfg.WebRTC.UDPMuxPort = c.Int("udp-mux-port")
	}
}

func newLogger(level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}

// runNode wires one node and runs it until ctx is cancelled.
func runNode(ctx context.Context, cfg Config, log *slog.Logger) error {
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	self, err := selfNode(cfg)
	if err != nil {
		return err
	}
	log = log.With("node", self.ID)
	rawStore, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = rawStore.Close(cctx)
	}()
	reg := metrics.New()
	store := reg.InstrumentStore(rawStore)

	var apps []stream.App
	for _, a := range cfg.Apps {
		app, err := stream.ParseApp(a)
		if err != nil {
			return fmt.Errorf("config apps: %w", err)
		}
		apps = append(apps, app)
	}

	// The engine and the outputs refer to each other (outputs attach to the
	// engine's streams; HLS asks the engine to play): a small forwarder
	// breaks the cycle at construction.
	play := &playbackRef{}
	ingestRef := &ingestRef{}
	rends := &renditionsRef{}
	audio := &audioRef{}
	aacComp := &aacRef{}
	hlsSrv, err := hls.New(hls.Config{
		Audio: cfg.HLS.Audio, Companions: aacComp,
		Variant: cfg.HLS.Variant, SegmentCount: cfg.HLS.SegmentCount,
		SegmentMinDuration: cfg.HLS.SegmentDuration, PartMinDuration: cfg.HLS.PartDuration,
		Directory: cfg.HLS.Directory, SeparateAudio: cfg.HLS.SeparateAudio,
		Logger: log, Renditions: rends,
	}, play)
	if err != nil {
		return err
	}
	webrtcSrv, err := newWebRTC(cfg, log, ingestRef, play, audio, rends)
	if err != nil {
		return err
	}
	cl, err := newClusterParts(cfg, self, log)
	if err != nil {
		return err
	}
	defer cl.close()
	settings, _ := rawStore.(ports.Settings) // the bbolt and mongo stores keep app settings and tokens
	plugins, pluginsDir, err := newPluginHost(cfg.Transcoder, log)
	if err != nil {
		return err
	}
	deps := engine.Deps{
		Store:   store,
		Outputs: []ports.Output{hlsSrv},
		Viewers: map[string]ports.ViewerCounter{"hls": hlsSrv, "webrtc": webrtcSrv},
		Load:    procfs.New(""),
		Puller:  cl.puller(),
		Relays:  cl,
	}
	if settings != nil {
		// Stream tokens, when an app turns them on (origins and edges alike).
		auth, err := rest.NewAuthorizer(rest.AuthorizerConfig{Logger: log}, settings)
		if err != nil {
			return err
		}
		deps.Auth = auth
	}
	var pluginREST rest.Plugins
	if plugins != nil {
		defer plugins.Close() // after the engine has ended its transcoding
		// Probe and select the plugin now, not when the first viewer or
		// publisher needs it.
		plugins.Prepare()
		deps.Transcoder, deps.AudioBridge = plugins, plugins
		deps.Ladder = ladders(cfg, store, settings)
		pluginREST = pluginAPI{h: plugins, dir: pluginsDir}
	}
	eng, err := engine.New(engine.Config{
		Self: self, Apps: apps, PurgeAfter: cfg.Node.PurgeAfter, Logger: log,
	}, deps)
	if err != nil {
		return err
	}
	play.Playback = eng
	ingestRef.Ingest = eng
	rends.Renditions = eng
	audio.AudioCompanions = eng
	if plugins != nil {
		aacComp.c = eng // AAC for HLS from WebRTC's Opus
	}
	if err := cl.listen(eng); err != nil {
		return err
	}

	var rtmpSrv *rtmp.Server
	if self.Role.Ingests() {
		rtmpSrv, err = rtmp.New(rtmp.Config{Addr: cfg.RTMPAddr, Logger: log}, eng)
		if err != nil {
			return err
		}
		if err := rtmpSrv.Listen(); err != nil {
			return fmt.Errorf("rtmp: %w", err)
		}
	}

	restCfg := rest.Config{Version: version, Logger: log, Access: cfg.REST, Settings: settings,
		Streams: eng, Viewers: eng, Load: procfs.New(""), DiskPath: cfg.DataDir, Plugins: pluginREST}
	if cfg.Mode == "cluster" {
		// Calls about a live stream are answered by its origin.
		restCfg.Forward.Secret = []byte(cfg.ClusterSecret)
	}
	api, err := rest.New(restCfg, eng, store, store)
	if err != nil {
		return err
	}
	registerMetrics(reg, eng, hlsSrv, webrtcSrv, rtmpSrv, cl.relaySrv)
	gov := newGovernor(cfg.Runtime, log)
	reg.Gauge("gomaxprocs", "GOMAXPROCS: the Go runtime's processors, as the adaptive governor sets them.", func() float64 {
		return float64(runtime.GOMAXPROCS(0))
	})
	if gov != nil {
		reg.Counter("gomaxprocs_changes_total", "Changes of GOMAXPROCS by the adaptive governor (a fast rise means it flaps).", func() float64 {
			return float64(gov.Changes())
		})
	}
	mux := http.NewServeMux()
	api.Register(mux)
	mux.Handle("GET /metrics", reg.Handler())
	mux.Handle("/{app}/streams/", hlsSrv)
	mux.Handle("/", dashboard.Handler(dashboard.Config{}))
	webrtcSrv.Register(mux)
	var handler http.Handler = hlsSrv.Route(mux)
	if cfg.ServedByHeader == nil || *cfg.ServedByHeader {
		handler = servedBy(string(self.ID), handler)
	}
	var httpsSrv *http.Server
	var tln net.Listener
	if cfg.TLS.CertFile != "" {
		certs, err := certfile.Load(cfg.TLS.CertFile, cfg.TLS.KeyFile, log)
		if err != nil {
			return err
		}
		if tln, err = net.Listen("tcp", cfg.TLS.Addr); err != nil {
			return fmt.Errorf("https: %w", err)
		}
		httpsSrv = newHTTPServer(handler, httpIdleTimeout)
		httpsSrv.TLSConfig = &tls.Config{GetCertificate: certs.GetCertificate, MinVersion: tls.VersionTLS12}
		reg.Gauge("tls_certificate_expiry_timestamp_seconds", "When the HTTPS certificate in use expires (Unix time).", func() float64 {
			return float64(certs.NotAfter().Unix())
		})
	}

	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		closeListener(tln)
		return fmt.Errorf("http: %w", err)
	}
	httpSrv := newHTTPServer(handler, httpIdleTimeout)
	httpSrv.ConnContext = hls.ConnContext
	var lane *http1.Lane
	if cfg.HTTPLane == nil || *cfg.HTTPLane {
		// HLS GETs are answered on the lane, every other connection is
		// handed to httpSrv.
		lane, err = http1.New(ln, http1.Config{Takes: hls.Takes, Handler: handler, Logger: log})
		if err != nil {
			closeListener(tln)
			closeListener(ln)
			return err
		}
		reg.Counter("http_lane_requests_total", "HTTP requests answered on the lane (HLS GETs).", func() float64 {
			return float64(lane.Stats().Requests)
		})
		reg.Counter("http_lane_handoffs_total", "Connections the lane handed to net/http.", func() float64 {
			return float64(lane.Stats().Handoffs)
		})
	}

	log.Info("colony started", "version", version, "mode", cfg.Mode, "role", self.Role, "http", ln.Addr().String(), "https", addrOf(tln), "rtmp", cfg.RTMPAddr)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return eng.Run(gctx) })
	g.Go(func() error { return hlsSrv.Run(gctx) })
	g.Go(func() error { return api.Run(gctx) }) // measures the bitrate of the streams published here
	g.Go(func() error { return webrtcSrv.Run(gctx) })
	if gov != nil {
		g.Go(func() error { return gov.Run(gctx) })
	}
	if rtmpSrv != nil {
		g.Go(func() error { return rtmpSrv.Serve(gctx) })
	}
	if cl.relaySrv != nil {
		g.Go(func() error { return cl.relaySrv.Serve(gctx) })
	}
	served := ln
	if lane != nil {
		served = lane.Listener()
		g.Go(func() error { return lane.Serve(gctx) })
	}
	g.Go(func() error {
		if err := httpSrv.Serve(served); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	if httpsSrv != nil {
		g.Go(func() error {
			// HTTP/2 is negotiated by ALPN; WebSockets come over HTTP/1.1
			// (net/http's HTTP/2 server offers no extended CONNECT).
			if err := httpsSrv.ServeTLS(tln, "", ""); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
	}
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var errs []error
		if httpsSrv != nil {
			errs = append(errs, httpsSrv.Shutdown(sctx))
		}
		return errors.Join(append(errs, httpSrv.Shutdown(sctx))...)
	})
	err = g.Wait()
	log.Info("colony stopped")
	return err
}

// playbackRef and ingestRef forward to the engine once it exists.
type playbackRef struct{ ports.Playback }

type ingestRef struct{ ports.Ingest }

// audioRef forwards to the engine's Opus companions once it exists.
type audioRef struct{ ports.AudioCompanions }

// aacRef forwards to the engine's AAC companions once it exists; without
// a transcoder there are none.
type aacRef struct{ c hls.AACCompanions }

func (r *aacRef) AACFor(ctx context.Context, key stream.Key) (*media.Stream, error) {
	if r.c == nil {
		return nil, fmt.Errorf("%w: no transcoder", engine.ErrNoAudioBridge)
	}
	return r.c.AACFor(ctx, key)
}

// servedBy names the node in every response, as CDNs do.
func servedBy(id string, h http.Handler) http.Handler {
	v := []string{id} // shared by every response: net/http only reads it
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["X-Served-By"] = v
		h.ServeHTTP(w, r)
	})
}

// selfNode describes this node from the configuration.
func selfNode(cfg Config) (node.Node, error) {
	role, err := node.ParseRole(cfg.Node.Role)
	if err != nil {
		return node.Node{}, err
	}
	id := cfg.Node.ID
	if id == "" {
		id, err = persistentNodeID(cfg.DataDir)
		if err != nil {
			return node.Node{}, err
		}
	}
	host := cfg.Node.AdvertiseAddr
	if host == "" {
		host = "127.0.0.1"
	}
	public := cfg.Node.PublicAddr
	if public == "" {
		public = host
	}
	return node.Node{
		ID: node.ID(id), Role: role, Group: cfg.Node.Group, Version: version,
		InternalAddr: joinHostPort(host, cfg.RelayAddr),
		HTTPAddr:     joinHostPort(host, cfg.HTTPAddr),
		RTMPAddr:     rtmpAddr(role, host, cfg.RTMPAddr),
		PublicAddr:   public,
	}, nil
}

// joinHostPort puts host in front of the port of a listen address.
func joinHostPort(host, listen string) string {
	_, port, err := net.SplitHostPort(listen)
	if err != nil {
		return host
	}
	return net.JoinHostPort(host, port)
}

// rtmpAddr is the RTMP address an ingesting node advertises.
func rtmpAddr(role node.Role, host, listen string) string {
	if !role.Ingests() {
		return ""
	}
	return joinHostPort(host, listen)
}

// httpIdleTimeout closes a keep-alive connection that has waited this
// long for its next request, as the lane does (a client that vanished
// behind a NAT would otherwise hold it for good).
const httpIdleTimeout = 2 * time.Minute

// newHTTPServer is the node's net/http server of handler, for the HTTP
// connections the lane hands over and for HTTPS: a request head must
// arrive within 10 s, an idle connection closes after idle.
func newHTTPServer(handler http.Handler, idle time.Duration) *http.Server {
	return &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: idle}
}

// closeListener closes ln, if any, on a failed start.
func closeListener(ln net.Listener) {
	if ln != nil {
		_ = ln.Close()
	}
}

// addrOf is a listener's address, or "" for none.
func addrOf(ln net.Listener) string {
	if ln == nil {
		return ""
	}
	return ln.Addr().String()
}
