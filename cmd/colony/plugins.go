package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/colony-live/colony/adapters/pluginhost"
)

// pluginProbeTimeout bounds one probe from the command line.
const pluginProbeTimeout = 45 * time.Second

func pluginsCommand() *cli.Command {
	dirFlag := &cli.StringFlag{Name: "plugin-dir", Usage: "plugin `DIR` (default: transcoder.plugin_dir, else the colony binary's directory)"}
	return &cli.Command{
		Name:  "plugins",
		Usage: "manage the transcoder plugins (colony-transcoder-<name> executables)",
		Flags: []cli.Flag{configFlag(), dirFlag},
		Subcommands: []*cli.Command{
			{
				Name:   "list",
				Usage:  "list the plugins with their path, SHA-256 and probe result",
				Action: func(c *cli.Context) error { return pluginsList(c) },
			},
			{
				Name:      "install",
				Usage:     "copy a colony-transcoder-<name> executable into the plugin directory and print its SHA-256",
				ArgsUsage: "PATH",
				Action:    func(c *cli.Context) error { return pluginsInstall(c) },
			},
			{
				Name:      "remove",
				Usage:     "remove a plugin from the plugin directory",
				ArgsUsage: "NAME",
				Action:    func(c *cli.Context) error { return pluginsRemove(c) },
			},
			{
				Name:      "probe",
				Usage:     "ask a plugin for a trial encode; fails, with the reason, when it cannot work here",
				ArgsUsage: "NAME",
				Action:    func(c *cli.Context) error { return pluginsProbe(c) },
			},
		},
	}
}

// pluginsConfig reads the transcoder section and resolves the plugin directory.
func pluginsConfig(c *cli.Context) (TranscoderConfig, string, error) {
	cfg, err := loadConfig(c.String("config"))
	if err != nil {
		return TranscoderConfig{}, "", err
	}
	tc := cfg.Transcoder
	if c.IsSet("plugin-dir") {
		tc.PluginDir = c.String("plugin-dir")
	}
	dir, err := pluginDir(tc)
	return tc, dir, err
}

// cliHost returns a plugin host over dir that logs warnings to stderr.
func cliHost(c *cli.Context, tc TranscoderConfig, dir string) (*pluginhost.Host, error) {
	log := slog.New(slog.NewTextHandler(c.App.ErrWriter, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return pluginhost.New(pluginhost.Config{Dir: dir, Checksums: tc.Checksums, Logger: log})
}

// oneArg returns the command's single argument.
func oneArg(c *cli.Context, what string) (string, error) {
	if c.NArg() != 1 {
		return "", fmt.Errorf("usage: colony plugins %s %s", c.Command.Name, what)
	}
	return c.Args().First(), nil
}

func pluginsList(c *cli.Context) error {
	tc, dir, err := pluginsConfig(c)
	if err != nil {
		return err
	}
	h, err := cliHost(c, tc, dir)
	if err != nil {
		return err
	}
	defer h.Close()
	w := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tPATH\tSHA256\tPROBE")
	for _, name := range h.List() {
		path := filepath.Join(dir, pluginPrefix+name)
		sum, err := fileSHA256(path)
		if err != nil {
			sum = "unreadable"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", name, path, sum, probeSummary(c.Context, h, name))
	}
	return w.Flush()
}

// probeSummary is one line saying whether plugin name works here.
func probeSummary(ctx context.Context, h *pluginhost.Host, name string) string {
	ctx, cancel := context.WithTimeout(ctx, pluginProbeTimeout)
	defer cancel()
	pr, err := h.Probe(ctx, name)
	switch {
	case err != nil:
		return "error: " + err.Error()
	case !pr.OK:
		return fmt.Sprintf("unavailable (%s): %s", pr.Encoder, pr.Reason)
	}
	return fmt.Sprintf("ok (%s, version %s)", pr.Encoder, pr.Version)
}

func pluginsInstall(c *cli.Context) error {
	src, err := oneArg(c, "PATH")
	if err != nil {
		return err
	}
	name, ok := pluginFileName(src)
	if !ok {
		return fmt.Errorf("%s: a plugin's file is named %s<name> (letters, digits, - and _)", src, pluginPrefix)
	}
	_, dir, err := pluginsConfig(c)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	dst := filepath.Join(dir, pluginPrefix+name)
	if err := copyExecutable(src, dst); err != nil {
		return err
	}
	sum, err := fileSHA256(dst)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "installed %s at %s\nsha256 %s\n(pin it with transcoder.checksums.%s: %s)\n", name, dst, sum, name, sum)
	return nil
}

// copyExecutable copies src to dst (mode 0755) through a temporary file,
// so that a running plugin's file is replaced, never rewritten.
func copyExecutable(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if fi, err := in.Stat(); err != nil {
		return err
	} else if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", src)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".install-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, in); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o755); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}

func pluginsRemove(c *cli.Context) error {
	name, err := oneArg(c, "NAME")
	if err != nil {
		return err
	}
	if !validPluginName(name) {
		return fmt.Errorf("%q is not a plugin name", name)
	}
	_, dir, err := pluginsConfig(c)
	if err != nil {
		return err
	}
	path := filepath.Join(dir, pluginPrefix+name)
	if err := os.Remove(path); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("no plugin %s in %s", name, dir)
	} else if err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "removed %s (%s)\n", name, path)
	return nil
}

func pluginsProbe(c *cli.Context) error {
	name, err := oneArg(c, "NAME")
	if err != nil {
		return err
	}
	tc, dir, err := pluginsConfig(c)
	if err != nil {
		return err
	}
	h, err := cliHost(c, tc, dir)
	if err != nil {
		return err
	}
	defer h.Close()
	ctx, cancel := context.WithTimeout(c.Context, pluginProbeTimeout)
	defer cancel()
	pr, err := h.Probe(ctx, name)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "plugin %s: encoder %s, version %s, hardware %v, codecs %v\n", name, pr.Encoder, pr.Version, pr.Hardware, pr.Codecs)
	if !pr.OK {
		return fmt.Errorf("plugin %s cannot work here: %s", name, pr.Reason)
	}
	fmt.Fprintf(c.App.Writer, "plugin %s works here\n", name)
	return nil
}
