package rtmp

import (
	"net"
	"sync"
	"sync/atomic"
	"time"

	gortmp "github.com/yutopp/go-rtmp"
)

// streamerWait bounds how long a closing connection waits for go-rtmp's
// write goroutine to end.
const streamerWait = 5 * time.Second

// netConn wraps an accepted TCP connection for go-rtmp: it applies the
// handshake, read and write timeouts, counts bytes in, remembers the first
// read error and tells the server when go-rtmp is done with it. On Linux it
// reads with raw system calls (rawReader).
type netConn struct {
	net.Conn
	srv *Server
	raw *rawReader // nil: read through Conn

	serving  atomic.Bool // the handshake is done: per-read deadlines apply
	aborted  atomic.Bool // the server closed it (kick or shutdown)
	readErr  error       // first read error; only go-rtmp's connection goroutine reads
	streamer *gortmp.ChunkStreamer

	closeOnce sync.Once
}

// handshakeDone switches from the handshake deadline to per-read and
// per-write deadlines. Called on the connection goroutine.
func (c *netConn) handshakeDone(streamer *gortmp.ChunkStreamer) {
	c.streamer = streamer
	c.serving.Store(true)
	_ = c.Conn.SetDeadline(time.Time{})
}

func (c *netConn) Read(b []byte) (int, error) {
	if c.serving.Load() {
		_ = c.Conn.SetReadDeadline(time.Now().Add(c.srv.cfg.ReadTimeout))
	}
	var (
		n   int
		err error
	)
	if c.raw != nil {
		n, err = c.raw.read(b)
	} else {
		n, err = c.Conn.Read(b)
	}
	c.srv.bytesIn.Add(uint64(n))
	if err != nil && c.readErr == nil {
		c.readErr = err
	}
	return n, err
}

func (c *netConn) Write(b []byte) (int, error) {
	if c.serving.Load() {
		_ = c.Conn.SetWriteDeadline(time.Now().Add(c.srv.cfg.WriteTimeout))
	}
	return c.Conn.Write(b)
}

// abort closes the socket from the server's side; go-rtmp then ends the
// connection and calls Close.
func (c *netConn) abort() {
	c.aborted.Store(true)
	_ = c.Conn.Close()
}

// Close is go-rtmp's last call on the connection (after Handler.OnClose).
// It waits for go-rtmp's write goroutine, then releases the connection.
func (c *netConn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		err = c.Conn.Close()
		if c.streamer != nil {
			select {
			case <-c.streamer.Done():
			case <-time.After(streamerWait):
				c.srv.log.Warn("go-rtmp writer did not end", "remote", c.RemoteAddr().String())
			}
		}
		c.srv.release(c)
	})
	return err
}
