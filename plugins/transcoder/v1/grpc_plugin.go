package transcoderv1

import (
	"context"
	"errors"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// GRPCPlugin is the go-plugin glue: it serves Impl in a plugin process and
// returns a Transcoder backed by the gRPC connection in the host.
type GRPCPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	// Impl is the plugin's implementation; nil in the host.
	Impl Transcoder
}

var _ plugin.GRPCPlugin = (*GRPCPlugin)(nil)

// GRPCServer registers the Transcoder service for Impl.
func (p *GRPCPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	if p.Impl == nil {
		return errors.New("transcoder plugin: no implementation to serve")
	}
	RegisterTranscoderServer(s, NewGRPCServer(p.Impl))
	return nil
}

// GRPCClient returns a Transcoder that calls the plugin over c.
func (p *GRPCPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return NewGRPCClient(c), nil
}
