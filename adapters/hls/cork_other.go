//go:build !linux

package hls

import "errors"

// setCork fails off Linux: responses are written as net/http writes them
// (the BSDs' TCP_NOPUSH sends the held bytes only with the next write).
func setCork(int, int) error { return errors.ErrUnsupported }
