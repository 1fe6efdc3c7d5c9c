package webrtc

import (
	"context"
	"sync"
	"testing"

	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/ports"
	"github.com/pion/dtls/v3/pkg/protocol/handshake"
)

// TestDTLSServerSendsNoCookie: a viewer on the muxed port, whose offer
// leaves the DTLS role to the server, has the server as its DTLS server,
// which takes the first ClientHello: no HelloVerifyRequest, whose cookie
// the viewer would send back in a second one. (On a port of the session's
// own, pion's default answering role makes the server the DTLS client.)
func TestDTLSServerSendsNoCookie(t *testing.T) {
	st := h264Stream(t, loadH264Fixture(t, 1))
	play := fakePlayback{play: func(context.Context, ports.PlayRequest) (*media.Stream, error) { return st, nil }}
	_, hs := newTestServer(t, Config{UDPMuxPort: freeUDPPort(t)}, fakeIngest{publish: noPublish}, play)
	var (
		mu      sync.Mutex
		cookies [][]byte // of every ClientHello the viewer sent
	)
	se := clientSettings()
	se.SetDTLSClientHelloMessageHook(func(m handshake.MessageClientHello) handshake.Message {
		mu.Lock()
		cookies = append(cookies, append([]byte(nil), m.Cookie...))
		mu.Unlock()
		return &m
	})
	connectVideoViewer(t, se, hs.URL+"/LiveApp/whep/cam1")
	mu.Lock()
	defer mu.Unlock()
	// A ClientHello at all says the viewer was the DTLS client.
	if len(cookies) != 1 || len(cookies[0]) != 0 {
		t.Fatalf("the viewer sent %d ClientHellos, cookies %x; want one, without a cookie", len(cookies), cookies)
	}
}
