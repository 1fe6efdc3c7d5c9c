package client

import (
	"errors"
	"fmt"
)

var (
	// ErrNoMedia is returned by Publish for a Source with neither H.264
	// nor Opus.
	ErrNoMedia = errors.New("no media to send")
	// ErrNotSeekable is returned by Publish when Source.Loop is set but an
	// input is not an io.Seeker.
	ErrNotSeekable = errors.New("looping needs seekable inputs")
	// ErrConnectTimeout: the peer connection did not connect in time.
	ErrConnectTimeout = errors.New("peer connection did not connect in time")
	// ErrPeerGone: the peer connection failed or was closed by the server.
	ErrPeerGone = errors.New("peer connection closed")
	// ErrClosed: the session was closed (Close, or its context ended).
	ErrClosed = errors.New("session closed")
)

// HTTPError is a WHIP or WHEP request the server refused.
type HTTPError struct {
	Method, URL string
	StatusCode  int
	Body        string // the start of the answer's body
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("%s %s: HTTP %d: %s", e.Method, e.URL, e.StatusCode, e.Body)
}

// SignalError is an error message of Ant Media's WebSocket signalling
// (for example "no_stream_exist" or "streamIdInUse").
type SignalError struct {
	Definition string
	Message    string
}

func (e *SignalError) Error() string {
	if e.Message == "" {
		return "signalling error: " + e.Definition
	}
	return "signalling error: " + e.Definition + ": " + e.Message
}
