package rtmp

import (
	"errors"
	"log/slog"
	"time"
)

// Config configures the RTMP ingest server. The zero value of each field
// takes the default given in its comment.
type Config struct {
	// Addr is the TCP address to listen on (default ":1935").
	Addr string
	// Logger receives the server's logs (default slog.Default()).
	Logger *slog.Logger
	// HandshakeTimeout bounds the RTMP handshake of a new connection
	// (default 10s).
	HandshakeTimeout time.Duration
	// ReadTimeout is how long a connection may stay silent once the
	// handshake is done (default 30s); WriteTimeout bounds each write to it
	// (default 10s).
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	// MaxStartWait is how long a publication waits for the second sequence
	// header (H.264 or AAC) before starting with the one it has (default
	// 3s). With none by then, the publisher is disconnected.
	MaxStartWait time.Duration
	// MaxMessageSize is the largest audio or video message accepted, in
	// bytes (default 8 MiB); a larger one closes the connection.
	MaxMessageSize int
	// MaxChunkSize is the largest chunk size a peer may set (default 1 MiB).
	MaxChunkSize uint32
	// MaxChunkStreams bounds the chunk streams of one connection (default
	// 16). RTMP messages are at most 16 MiB, so a connection buffers at
	// most MaxChunkStreams × 16 MiB of partial messages.
	MaxChunkStreams int
}

// Defaults of Config.
const (
	DefaultAddr             = ":1935"
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultReadTimeout      = 30 * time.Second
	DefaultWriteTimeout     = 10 * time.Second
	DefaultMaxStartWait     = 3 * time.Second
	DefaultMaxMessageSize   = 8 << 20
	DefaultMaxChunkSize     = 1 << 20
	DefaultMaxChunkStreams  = 16
)

func (c Config) withDefaults() Config {
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.MaxStartWait == 0 {
		c.MaxStartWait = DefaultMaxStartWait
	}
	if c.MaxMessageSize == 0 {
		c.MaxMessageSize = DefaultMaxMessageSize
	}
	if c.MaxChunkSize == 0 {
		c.MaxChunkSize = DefaultMaxChunkSize
	}
	if c.MaxChunkStreams == 0 {
		c.MaxChunkStreams = DefaultMaxChunkStreams
	}
	return c
}

func (c Config) validate() error {
	switch {
	case c.HandshakeTimeout < 0, c.ReadTimeout < 0, c.WriteTimeout < 0, c.MaxStartWait < 0:
		return errors.New("rtmp: negative timeout")
	case c.MaxMessageSize < 0:
		return errors.New("rtmp: negative MaxMessageSize")
	case c.MaxChunkSize < 128:
		return errors.New("rtmp: MaxChunkSize below the RTMP minimum of 128")
	case c.MaxChunkStreams < 4:
		return errors.New("rtmp: MaxChunkStreams below 4")
	}
	return nil
}
