//go:build !linux

package main

import (
	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
)

// newStampNet returns base: receive timestamps (and UDP GRO) are only
// taken on Linux, elsewhere a frame's arrival is when pion handed its last
// packet over.
func newStampNet(base *stdnet.Net, _ *arrivalLog, _ bool) transport.Net { return base }
