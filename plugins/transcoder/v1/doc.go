// Package transcoderv1 is the versioned contract between Colony and its transcoder plugins (handshake, plugin sets, Go interface, gRPC shims).
//
// A plugin is an executable named colony-transcoder-<name> that calls
// Serve with its Transcoder; the host starts it through
// hashicorp/go-plugin (gRPC protocol, AutoMTLS) and dispenses PluginName.
// The wire messages are generated from transcoder.proto in this directory
// (see generate.go); out-of-tree plugins import only this package.
package transcoderv1
