//go:build !linux

package http1

// sendMore writes b (a response header); without MSG_MORE it goes in a
// write of its own.
func (c *conn) sendMore(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	_, err := c.nc.Write(b)
	return err
}
