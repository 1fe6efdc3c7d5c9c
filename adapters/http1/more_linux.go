package http1

import (
	"errors"
	"syscall"
)

// sendMore writes b (a response header) with MSG_MORE: the kernel holds it
// for the sendfile that follows, and both leave in the same packets instead
// of the header in a packet of its own.
func (c *conn) sendMore(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if c.raw == nil {
		_, err := c.nc.Write(b)
		return err
	}
	for len(b) > 0 {
		var n int
		var serr error
		err := c.raw.Write(func(fd uintptr) bool {
			for {
				n, serr = syscall.SendmsgN(int(fd), b, nil, nil, syscall.MSG_MORE|syscall.MSG_NOSIGNAL)
				if !errors.Is(serr, syscall.EINTR) {
					break
				}
			}
			return !errors.Is(serr, syscall.EAGAIN)
		})
		if err != nil {
			return err
		}
		if serr != nil {
			return serr
		}
		b = b[n:]
	}
	return nil
}
