//go:build !linux

package rtmp

import "net"

// rawReader is Linux's (rawread_linux.go); elsewhere connections are read
// through the net package.
type rawReader struct{}

func newRawReader(net.Conn) *rawReader { return nil }

func (*rawReader) read([]byte) (int, error) { panic("rtmp: no raw reads on this platform") }
