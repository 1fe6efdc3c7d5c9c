package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/colony-live/colony/adapters/balancer"
	"github.com/colony-live/colony/ports"
)

// lbCommand renders and maintains the cluster's load balancer (nginx or HAProxy).
func lbCommand() *cli.Command {
	return &cli.Command{
		Name:  "lb",
		Usage: "generate and maintain the cluster's load balancer (nginx or HAProxy)",
		Subcommands: []*cli.Command{
			{
				Name:  "render",
				Usage: "write a balancer config for the live nodes of the registry to standard output",
				Description: "The config runs as it is: nginx -p PREFIX -c FILE -e PREFIX/error.log, or haproxy -f FILE.\n" +
					"RTMP goes to origins; WHIP and /{app}/websocket?target=origin to origins; HLS, WHEP and\n" +
					"other WebSockets to edges; REST and the dashboard to any live node. PREFIX is created.",
				Flags:  lbFlags(),
				Action: lbRender,
			},
			{
				Name:  "watch",
				Usage: "keep a balancer config up to date as nodes join, leave or die, and reload the balancer",
				Description: "Every --every, renders the config; when it changed, checks it (nginx -t / haproxy -c),\n" +
					"swaps it in atomically and reloads the balancer (nginx -s reload / SIGUSR2 to HAProxy's master).\n" +
					"A render that fails, or an empty registry, never replaces the config in place.",
				Flags: append(lbFlags(),
					&cli.StringFlag{Name: "out", Usage: "balancer config `FILE` to maintain (default PREFIX/nginx.conf or PREFIX/haproxy.cfg)"},
					&cli.DurationFlag{Name: "every", Value: balancer.DefaultEvery, Usage: "registry polling period"},
					&cli.StringFlag{Name: "bin", Usage: "balancer executable `PATH` (default nginx or haproxy on PATH)"},
					&cli.StringFlag{Name: "reload-cmd", Usage: "shell `COMMAND` that reloads the balancer instead of the default (e.g. \"systemctl reload nginx\")"},
					&cli.BoolFlag{Name: "once", Usage: "sync once and exit (non-zero if the config could not be updated)"},
					&cli.StringFlag{Name: "log-level", Value: "info", Usage: "debug, info, warn or error"},
				),
				Action: lbWatch,
			},
		},
	}
}

func lbFlags() []cli.Flag {
	return []cli.Flag{
		configFlag(),
		&cli.StringFlag{Name: "kind", Required: true, Usage: "balancer `KIND`: nginx or haproxy"},
		&cli.StringFlag{Name: "http-listen", Value: balancer.DefaultHTTPListen, Usage: "`ADDR` for viewers, publishers (WHIP, WebSocket), REST and the dashboard"},
		&cli.StringFlag{Name: "rtmp-listen", Value: balancer.DefaultRTMPListen, Usage: "`ADDR` for RTMP publishers (\"-\": none)"},
		&cli.StringFlag{Name: "https-listen", Usage: "`ADDR` serving what --http-listen serves over TLS (HTTP/2 too), with --tls-cert"},
		&cli.StringFlag{Name: "tls-cert", Usage: "certificate `FILE` (PEM) for --https-listen: nginx the chain; HAProxy the chain then the key, in one file"},
		&cli.StringFlag{Name: "tls-key", Usage: "nginx: key `FILE` (PEM) for --https-listen"},
		&cli.StringFlag{Name: "prefix", Usage: "`DIR` of the balancer's pid, logs and temporary files (default /usr/local/colony/lb/KIND)"},
		&cli.IntFlag{Name: "node-rtmp-port", Value: balancer.DefaultNodeRTMPPort, Usage: "RTMP `PORT` of origins whose record has no RTMP address"},
		&cli.StringSliceFlag{Name: "group-http", Usage: "`GROUP=ADDR`: a listener of its own for a node group (repeatable)"},
		&cli.StringSliceFlag{Name: "group-rtmp", Usage: "`GROUP=ADDR`: an RTMP listener for a node group that has --group-http (repeatable)"},
		&cli.StringFlag{Name: "stream-module", Value: "auto", Usage: "nginx: `PATH` of ngx_stream_module.so (auto: look in the usual places; none: built in)"},
	}
}

// lbConfig reads the render flags.
func lbConfig(c *cli.Context) (balancer.Config, error) {
	kind, err := balancer.ParseKind(c.String("kind"))
	if err != nil {
		return balancer.Config{}, err
	}
	prefix := c.String("prefix")
	if prefix == "" {
		prefix = filepath.Join("/usr/local/colony/lb", string(kind))
	}
	if prefix, err = filepath.Abs(prefix); err != nil {
		return balancer.Config{}, err
	}
	cfg := balancer.Config{Kind: kind, Prefix: prefix, HTTPListen: c.String("http-listen"),
		RTMPListen: c.String("rtmp-listen"), NodeRTMPPort: c.Int("node-rtmp-port"),
		HTTPSListen: c.String("https-listen"), TLSCert: c.String("tls-cert"), TLSKey: c.String("tls-key")}
	for _, f := range []*string{&cfg.TLSCert, &cfg.TLSKey} {
		if *f != "" {
			if *f, err = filepath.Abs(*f); err != nil {
				return cfg, err
			}
		}
	}
	if kind == balancer.Nginx {
		switch m := c.String("stream-module"); m {
		case "auto":
			cfg.StreamModule = balancer.FindStreamModule(balancer.StreamModulePaths)
		case "none", "":
		default:
			cfg.StreamModule = m
		}
	}
	groups := map[string]int{}
	for _, v := range c.StringSlice("group-http") {
		g, addr, ok := strings.Cut(v, "=")
		if !ok {
			return cfg, fmt.Errorf("--group-http %q: want GROUP=ADDR", v)
		}
		groups[g] = len(cfg.Groups)
		cfg.Groups = append(cfg.Groups, balancer.GroupListen{Group: g, HTTPListen: addr})
	}
	for _, v := range c.StringSlice("group-rtmp") {
		g, addr, ok := strings.Cut(v, "=")
		i, known := groups[g]
		if !ok || !known {
			return cfg, fmt.Errorf("--group-rtmp %q: want GROUP=ADDR for a group that has --group-http", v)
		}
		cfg.Groups[i].RTMPListen = addr
	}
	return cfg, nil
}

// openRegistry opens the cluster registry named by the config file.
func openRegistry(c *cli.Context) (ports.Store, error) {
	cfg, err := loadConfig(c.String("config"))
	if err != nil {
		return nil, err
	}
	if cfg.Mode != "cluster" {
		return nil, fmt.Errorf("%s is not in cluster mode (run: colony mode cluster <host>)", c.String("config"))
	}
	return openStore(c.Context, cfg, newLogger("error"))
}

func lbRender(c *cli.Context) error {
	cfg, err := lbConfig(c)
	if err != nil {
		return err
	}
	store, err := openRegistry(c)
	if err != nil {
		return err
	}
	defer store.Close(context.Background())
	nodes, err := store.Nodes(c.Context)
	if err != nil {
		return fmt.Errorf("read the registry: %w", err)
	}
	out, err := balancer.Render(cfg, nodes, time.Now())
	if err != nil {
		return fmt.Errorf("render: %w", err)
	}
	if err := os.MkdirAll(cfg.Prefix, 0o755); err != nil {
		fmt.Fprintf(c.App.ErrWriter, "colony: warning: cannot create the prefix %s: %v\n", cfg.Prefix, err)
	}
	_, err = c.App.Writer.Write(out)
	return err
}

func lbWatch(c *cli.Context) error {
	cfg, err := lbConfig(c)
	if err != nil {
		return err
	}
	out := c.String("out")
	if out == "" {
		out = filepath.Join(cfg.Prefix, cfg.Kind.ConfigFile())
	}
	if out, err = filepath.Abs(out); err != nil {
		return err
	}
	for _, dir := range []string{cfg.Prefix, filepath.Dir(out)} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	store, err := openRegistry(c)
	if err != nil {
		return err
	}
	defer store.Close(context.Background())
	reload := balancer.Reloader(cfg.Kind, c.String("bin"), cfg.Prefix, out)
	if cmd := c.String("reload-cmd"); cmd != "" {
		reload = balancer.ShellReloader(cmd)
	}
	log := newLogger(c.String("log-level"))
	w, err := balancer.NewWatcher(balancer.WatchConfig{
		Render: cfg, Path: out, Every: c.Duration("every"),
		Validate: balancer.Validator(cfg.Kind, c.String("bin"), cfg.Prefix),
		Reload:   reload, Logger: log,
	}, store)
	if err != nil {
		return err
	}
	if c.Bool("once") {
		o, err := w.Sync(c.Context)
		fmt.Fprintf(c.App.Writer, "%s: %s\n", out, o)
		return err
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	log.Info("watching the registry", "balancer", cfg.Kind, "config", out, "every", c.Duration("every"))
	return w.Run(ctx)
}
