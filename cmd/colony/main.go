// Command colony is the Colony live-streaming media server: one binary for
// a standalone server, a cluster node, and its administration.
package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if err := newApp().Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "colony:", err)
		os.Exit(1)
	}
}

func configFlag() cli.Flag {
	return &cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "YAML configuration `FILE`", EnvVars: []string{"COLONY_CONFIG"}, Value: "colony.yaml"}
}

func newApp() *cli.App {
	return &cli.App{
		Name:    "colony",
		Usage:   "live-streaming media server (RTMP/WebRTC in, HLS/LL-HLS/WebRTC out)",
		Version: version,
		Commands: []*cli.Command{
			runCommand(),
			modeCommand(),
			clusterCommand(),
			pluginsCommand(),
			lbCommand(),
			{
				Name:  "version",
				Usage: "print the version",
				Action: func(c *cli.Context) error {
					fmt.Fprintln(c.App.Writer, "colony", version)
					return nil
				},
			},
		},
	}
}
