package rtmp

import (
	"net"
	"time"
)

// listener hands accepted connections to go-rtmp, registered with the
// server. go-rtmp retries a failed Accept at once, so a failure (such as
// running out of file descriptors) is delayed with a backoff first.
type listener struct {
	net.Listener
	srv     *Server
	stop    <-chan struct{}
	backoff time.Duration
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		l.backoff = min(max(2*l.backoff, 5*time.Millisecond), time.Second)
		t := time.NewTimer(l.backoff)
		defer t.Stop()
		select {
		case <-l.stop:
		case <-t.C:
			l.srv.log.Warn("accept failed", "err", err, "retry_in", l.backoff)
		}
		return nil, err
	}
	l.backoff = 0
	return l.srv.register(c), nil
}
