package transcoderv1

import (
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// The handshake. The magic cookie never changes: it only tells a plugin
// binary that it was started by Colony, not by a person at a shell.
const (
	// ProtocolVersion is this contract's version; a later incompatible
	// contract lives in plugins/transcoder/v2 with ProtocolVersion 2.
	ProtocolVersion = 1
	// MagicCookieKey and MagicCookieValue are the go-plugin handshake cookie.
	MagicCookieKey   = "COLONY_TRANSCODER_PLUGIN"
	MagicCookieValue = "8c7f2b1e5d4a4f0e9b3c6a1d2e7f9b40"
	// PluginName is the name the host dispenses.
	PluginName = "transcoder"
	// BinaryPrefix starts the file name of every transcoder plugin:
	// colony-transcoder-ffmpeg, colony-transcoder-nvenc ...
	BinaryPrefix = "colony-transcoder-"
	// MaxMessageSize bounds one gRPC message (a large keyframe fits).
	MaxMessageSize = 32 << 20
)

// Handshake returns the go-plugin handshake shared by the host and plugins.
func Handshake() plugin.HandshakeConfig {
	return plugin.HandshakeConfig{
		ProtocolVersion:  ProtocolVersion,
		MagicCookieKey:   MagicCookieKey,
		MagicCookieValue: MagicCookieValue,
	}
}

// PluginSets returns the versioned plugin sets. A plugin passes its
// implementation; the host passes nil.
func PluginSets(impl Transcoder) map[int]plugin.PluginSet {
	return map[int]plugin.PluginSet{
		ProtocolVersion: {PluginName: &GRPCPlugin{Impl: impl}},
	}
}

// DialOptions are the gRPC options the host uses for plugin connections.
func DialOptions() []grpc.DialOption {
	return []grpc.DialOption{grpc.WithDefaultCallOptions(
		grpc.MaxCallRecvMsgSize(MaxMessageSize), grpc.MaxCallSendMsgSize(MaxMessageSize)),
		grpc.WithInitialWindowSize(streamWindow), grpc.WithInitialConnWindowSize(connWindow)}
}

// Both sides use static HTTP/2 flow-control windows: with gRPC's dynamic
// ones, every data frame received while no bandwidth probe was out sent a
// window update and a PING, and brought back the PING's ack, so each of
// the audio bridge's few hundred small messages a second cost three more
// frames and wake-ups (TestNoFlowControlPings: 801 PING frames, probes
// and acks, for 200 units each way). Over a local socket there is no
// bandwidth to discover: 4 MB per session and 16 MB per connection are
// more than a second of any session's media, so no sender waits for a
// window.
const (
	streamWindow = 4 << 20
	connWindow   = 16 << 20
)

// ServeConfig returns the go-plugin configuration that serves impl. Tests
// set its Test field to run a plugin in-process.
func ServeConfig(impl Transcoder, logger hclog.Logger) *plugin.ServeConfig {
	return &plugin.ServeConfig{
		HandshakeConfig:  Handshake(),
		VersionedPlugins: PluginSets(impl),
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			opts = append(opts, grpc.MaxRecvMsgSize(MaxMessageSize), grpc.MaxSendMsgSize(MaxMessageSize),
				grpc.InitialWindowSize(streamWindow), grpc.InitialConnWindowSize(connWindow))
			return grpc.NewServer(opts...)
		},
		Logger: logger,
	}
}

// Serve serves impl as a plugin process. It returns when the host closes
// the plugin; the caller then releases what impl holds and exits.
func Serve(impl Transcoder, logger hclog.Logger) {
	plugin.Serve(ServeConfig(impl, logger))
}
