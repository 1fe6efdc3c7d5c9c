package ports

import (
	"context"
	"errors"
	"net/url"

	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/core/stream"
)

// Errors that protocol adapters map to their own status codes.
var (
	// ErrUnknownApp: the application does not exist on this server.
	ErrUnknownApp = errors.New("unknown application")
	// ErrStreamBusy: the stream id is already being published (here or, in a
	// cluster, on another origin: then the error also wraps *origin.TakenError).
	ErrStreamBusy = errors.New("stream is already being published")
	// ErrUnauthorized: the token (or its absence) does not allow the request.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrStreamNotFound: no such live stream.
	ErrStreamNotFound = errors.New("stream not found")
	// ErrRoleRefused: this node's role does not take this request (an edge
	// asked to ingest, an origin-only node asked to serve).
	ErrRoleRefused = errors.New("not served by this node's role")
	// ErrOverloaded: the node refuses new work (Ant Media's highResourceUsage).
	ErrOverloaded = errors.New("server is overloaded")
)

// PublishRequest asks to publish a stream.
type PublishRequest struct {
	Key         stream.Key
	PublishType string     // stream.PublishRTMP, stream.PublishWebRTC ...
	Query       url.Values // the publish URL's query (token=...)
	RemoteAddr  string
}

// Ingest is the use case protocol servers call when a publisher arrives.
type Ingest interface {
	// Publish reserves req.Key for one publisher: it checks the app and the
	// token, refuses a second publisher, claims the origin and marks the
	// broadcast live. The caller then calls Start once it knows the tracks,
	// and End when the publisher goes away.
	Publish(ctx context.Context, req PublishRequest) (Publication, error)
}

// Publication is one publisher's hold on a stream.
type Publication interface {
	// Start creates the stream's fan-out with the given tracks; outputs
	// (HLS, WebRTC, relay) attach to it. The publisher writes units to it.
	Start(tracks []media.Track) (*media.Stream, error)
	// Kicked is closed when the server wants the publisher gone (a REST
	// stop, shutdown, or a lost origin claim).
	Kicked() <-chan struct{}
	// End closes the stream: err nil marks the broadcast finished, non-nil failed.
	End(err error)
}

// PlayRequest asks to watch a stream.
type PlayRequest struct {
	Key        stream.Key
	Protocol   string     // "hls", "webrtc", "rtmp"
	Query      url.Values // token=...
	RemoteAddr string
}

// Playback is the use case protocol servers call when a viewer arrives.
type Playback interface {
	// Play returns the live stream for req, pulling it from its origin first
	// when this node is an edge. ErrStreamNotFound when it is not live.
	Play(ctx context.Context, req PlayRequest) (*media.Stream, error)
}

// Output is a consumer that follows every live stream of a node, such as the
// HLS muxers or the relay server. Attach must not block; the output owns any
// goroutine it starts and ends it when s.Done() is closed or it shuts down.
type Output interface {
	Attach(key stream.Key, s *media.Stream)
}

// Authorizer decides whether a publisher or viewer may proceed. It returns
// nil or an error wrapping ErrUnauthorized.
type Authorizer interface {
	AuthorizePublish(ctx context.Context, req PublishRequest) error
	AuthorizePlay(ctx context.Context, req PlayRequest) error
}

// ViewerCounter is implemented by outputs that count their viewers per stream.
type ViewerCounter interface {
	Viewers(key stream.Key) int
}

// LocalStreams looks up streams that are live on this node, without
// pulling. The relay server uses it to serve edges.
type LocalStreams interface {
	// LocalStream returns the stream if it is live here and started.
	LocalStream(key stream.Key) (*media.Stream, bool)
}
