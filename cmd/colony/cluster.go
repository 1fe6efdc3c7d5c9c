package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/colony-live/colony/core/node"
	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
)

// clusterCommand prints the cluster registry, as the REST API does.
func clusterCommand() *cli.Command {
	open := func(c *cli.Context) (ports.Store, func(), error) {
		cfg, err := loadConfig(c.String("config"))
		if err != nil {
			return nil, nil, err
		}
		if cfg.Mode != "cluster" {
			return nil, nil, fmt.Errorf("%s is not in cluster mode (run: colony mode cluster <host>)", c.String("config"))
		}
		store, err := openStore(c.Context, cfg, newLogger("error"))
		if err != nil {
			return nil, nil, err
		}
		return store, func() { _ = store.Close(context.Background()) }, nil
	}
	return &cli.Command{
		Name:  "cluster",
		Usage: "inspect the cluster registry",
		Subcommands: []*cli.Command{
			{
				Name:  "nodes",
				Usage: "list the nodes with their status and load",
				Flags: []cli.Flag{configFlag()},
				Action: func(c *cli.Context) error {
					store, done, err := open(c)
					if err != nil {
						return err
					}
					defer done()
					nodes, err := store.Nodes(c.Context)
					if err != nil {
						return err
					}
					now := time.Now()
					tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "ID\tROLE\tGROUP\tSTATUS\tINTERNAL\tHTTP\tCPU%\tMEM MB\tSTREAMS\tVIEWERS\tDB MS\tLAST SEEN")
					for _, n := range nodes {
						status := "dead"
						if n.Alive(now, node.DefaultDeadAfter) {
							status = "alive"
						}
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%.1f\t%.0f\t%d\t%d\t%.1f\t%s ago\n", n.ID, n.Role, n.Group, status,
							n.InternalAddr, n.HTTPAddr, n.Load.CPUPercent, float64(n.Load.MemoryBytes)/(1<<20), n.Load.Streams,
							n.Load.Viewers, n.Load.DBQueryAvgMs, now.Sub(n.LastSeen).Round(time.Second))
					}
					return tw.Flush()
				},
			},
			{
				Name:  "streams",
				Usage: "list live streams with their origin",
				Flags: []cli.Flag{configFlag()},
				Action: func(c *cli.Context) error {
					store, done, err := open(c)
					if err != nil {
						return err
					}
					defer done()
					live, err := store.LiveBroadcasts(c.Context)
					if err != nil {
						return err
					}
					claims, err := store.Claims(c.Context, "")
					if err != nil {
						return err
					}
					relay := map[stream.Key]string{}
					for _, cl := range claims {
						relay[cl.Stream] = cl.RelayAddr
					}
					// Viewers over every alive node, from their last heartbeats.
					nodes, err := store.Nodes(c.Context)
					if err != nil {
						return err
					}
					viewers := node.ClusterViewers(nodes, time.Now(), node.DefaultDeadAfter)
					tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "STREAM\tSTATUS\tTYPE\tORIGIN\tRELAY\tSIZE\tVIEWERS (HLS/WEBRTC)\tSINCE")
					for _, b := range live {
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%dx%d\t%d/%d\t%s\n", b.Key, b.Status, b.PublishType, b.OriginNode,
							relay[b.Key], b.Width, b.Height, viewers[b.Key].HLS, viewers[b.Key].WebRTC, b.StartTime.Format(time.RFC3339))
					}
					return tw.Flush()
				},
			},
		},
	}
}
