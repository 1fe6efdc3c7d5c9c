package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/colony-live/colony/adapters/mongo"
)

// modeCommand switches a node between standalone and cluster mode, like
// Ant Media Server's change_server_mode.sh.
func modeCommand() *cli.Command {
	return &cli.Command{
		Name:  "mode",
		Usage: "switch this node between standalone and cluster mode (rewrites the config file)",
		Subcommands: []*cli.Command{
			{
				Name:      "cluster",
				Usage:     "join a cluster whose registry is the given MongoDB",
				ArgsUsage: "<host | host:port | mongodb://... | mongodb+srv://...> [user password]",
				Flags: []cli.Flag{
					configFlag(),
					&cli.DurationFlag{Name: "timeout", Value: 10 * time.Second, Usage: "how long to wait for the database"},
					&cli.StringFlag{Name: "database", Value: mongo.DefaultDatabase, Usage: "database `NAME`"},
				},
				Action: modeCluster,
			},
			{
				Name:   "standalone",
				Usage:  "run standalone with the embedded store",
				Flags:  []cli.Flag{configFlag()},
				Action: modeStandalone,
			},
		},
	}
}

func modeCluster(c *cli.Context) error {
	args := c.Args()
	if args.Len() != 1 && args.Len() != 3 {
		return errors.New("usage: colony mode cluster <host | mongodb://... | mongodb+srv://...> [user password]")
	}
	uri, err := mongo.ParseTarget(args.Get(0), args.Get(1), args.Get(2))
	if err != nil {
		return err
	}
	path := c.String("config")
	cfg, err := loadConfig(path)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout")+5*time.Second)
	defer cancel()
	store, err := mongo.Open(ctx, mongo.Config{URI: uri, Database: c.String("database"), ConnectTimeout: c.Duration("timeout")})
	if errors.Is(err, mongo.ErrAuth) {
		return fmt.Errorf("database refused the credentials (check the user, the password and the authentication database, admin unless the URI names another), config %s left unchanged: %w", path, err)
	}
	if err != nil {
		return fmt.Errorf("database not reachable, config %s left unchanged: %w", path, err)
	}
	defer store.Close(context.Background())
	secret, err := store.ClusterSecret(ctx, newSecret)
	if err != nil {
		return fmt.Errorf("cannot read the cluster secret, config %s left unchanged: %w", path, err)
	}
	old := cfg.Mode
	cfg.Mongo.Database = c.String("database")
	if err := editConfig(path,
		configEdit{"mode", "cluster"},
		configEdit{"mongo.uri", uri},
		configEdit{"mongo.database", cfg.Mongo.Database},
		configEdit{"cluster_secret", secret},
	); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	w := c.App.Writer
	fmt.Fprintf(w, "mode: %s -> cluster\nregistry: %s (database %s, reachable)\nconfig written: %s\n", old, mongo.Redact(uri), cfg.Mongo.Database, path)
	fmt.Fprintln(w, "restart the node to apply: systemctl restart colony (or stop and start `colony run --config "+path+"`)")
	return nil
}

func modeStandalone(c *cli.Context) error {
	path := c.String("config")
	cfg, err := loadConfig(path)
	if err != nil {
		return err
	}
	old := cfg.Mode
	if err := editConfig(path, configEdit{"mode", "standalone"}, configEdit{"mongo.uri", nil}); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	fmt.Fprintf(c.App.Writer, "mode: %s -> standalone\nconfig written: %s\nrestart the node to apply.\n", old, path)
	return nil
}

// newSecret makes a cluster secret for a registry that has none yet.
func newSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}
