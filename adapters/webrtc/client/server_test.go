package client

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/colony-live/colony/adapters/webrtc"
	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/ports"
)

// relay is a one-stream engine for the real WebRTC server: a publisher
// starts the stream, viewers play it, the end of the publication ends it.
type relay struct {
	mu sync.Mutex
	st *media.Stream
}

func (r *relay) Publish(context.Context, ports.PublishRequest) (ports.Publication, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.st != nil {
		return nil, ports.ErrStreamBusy
	}
	return &relayPub{r: r, kicked: make(chan struct{})}, nil
}

func (r *relay) Play(context.Context, ports.PlayRequest) (*media.Stream, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.st == nil {
		return nil, ports.ErrStreamNotFound
	}
	return r.st, nil
}

func (r *relay) live() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.st != nil
}

type relayPub struct {
	r      *relay
	kicked chan struct{}
	st     *media.Stream
}

func (p *relayPub) Start(tracks []media.Track) (*media.Stream, error) {
	p.st = media.NewStream(tracks, media.StreamConfig{})
	p.r.mu.Lock()
	p.r.st = p.st
	p.r.mu.Unlock()
	return p.st, nil
}

func (p *relayPub) Kicked() <-chan struct{} { return p.kicked }

func (p *relayPub) End(error) {
	p.r.mu.Lock()
	if p.r.st == p.st {
		p.r.st = nil
	}
	p.r.mu.Unlock()
	if p.st != nil {
		p.st.Close()
	}
}

// newServer runs Colony's WebRTC server on loopback with a relay engine.
func newServer(t *testing.T) (*relay, *httptest.Server) {
	t.Helper()
	r := &relay{}
	s, err := webrtc.New(webrtc.Config{
		IncludeLoopback: true,
		IPFilter:        func(ip net.IP) bool { return ip.Equal(net.IPv4(127, 0, 0, 1)) },
	}, r, r)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	s.Register(mux)
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		s.Close()
		hs.Close()
	})
	return r, hs
}

func wsURLOf(hs *httptest.Server) string {
	return "ws" + strings.TrimPrefix(hs.URL, "http") + "/LiveApp/websocket"
}
