package main

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/colony-live/colony/adapters/relay"
	"github.com/colony-live/colony/core/node"
	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
)

// clusterParts are the relay server and puller (edges) of a cluster node;
// both are nil on a standalone node.
type clusterParts struct {
	cfg      Config
	self     node.Node
	log      *slog.Logger
	relaySrv *relay.Server
	pull     *relay.Puller
}

func newClusterParts(cfg Config, self node.Node, log *slog.Logger) (*clusterParts, error) {
	c := &clusterParts{cfg: cfg, self: self, log: log}
	if cfg.Mode != "cluster" {
		return c, nil
	}
	if len(cfg.ClusterSecret) < relay.MinSecretLen {
		return nil, errors.New("cluster_secret is missing or too short in the config (run: colony mode cluster <host>, which reads it from the registry)")
	}
	if self.Role.Serves() {
		p, err := relay.NewPuller(relay.PullerConfig{Secret: []byte(cfg.ClusterSecret), NodeID: string(self.ID), Logger: log.With("proto", "relay")})
		if err != nil {
			return nil, err
		}
		c.pull = p
	}
	return c, nil
}

// puller returns the edge's puller, or nil (an untyped nil, so the engine sees none).
func (c *clusterParts) puller() ports.Puller {
	if c.pull == nil {
		return nil
	}
	return c.pull
}

// listen starts the node's relay listener: origins serve their streams to
// edges, edges serve the streams they carry to the other edges of their group.
func (c *clusterParts) listen(streams ports.LocalStreams) error {
	if c.cfg.Mode != "cluster" {
		return nil
	}
	srv, err := relay.NewServer(relay.ServerConfig{Addr: c.cfg.RelayAddr, Secret: []byte(c.cfg.ClusterSecret), Logger: c.log.With("proto", "relay")}, streams)
	if err != nil {
		return err
	}
	if err := srv.Listen(); err != nil {
		return fmt.Errorf("relay: %w", err)
	}
	c.relaySrv = srv
	return nil
}

// Viewers counts the relays of key this node serves (the engine's
// Deps.Relays); 0 before listen and on a standalone node.
func (c *clusterParts) Viewers(key stream.Key) int {
	if c.relaySrv == nil {
		return 0
	}
	return c.relaySrv.Viewers(key)
}

func (c *clusterParts) close() {
	if c.pull != nil {
		c.pull.Close()
	}
}
