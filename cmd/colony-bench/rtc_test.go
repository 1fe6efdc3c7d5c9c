package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2"
	"github.com/pion/webrtc/v4"
)

// The generator's WebRTC viewers share one DTLS certificate: their offers
// carry one fingerprint.
func TestViewersShareCertificate(t *testing.T) {
	sh, err := newRTCShared(false)
	if err != nil {
		t.Fatal(err)
	}
	var prints []string
	for range 2 {
		pc, _, err := newRTCPeerConnection(sh)
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		if err := addRecvTransceivers(pc); err != nil {
			t.Fatal(err)
		}
		offer, err := pc.CreateOffer(nil)
		if err != nil {
			t.Fatal(err)
		}
		prints = append(prints, fingerprint(offer))
	}
	want, err := sh.cert.GetFingerprints()
	if err != nil || len(want) == 0 {
		t.Fatalf("fingerprints %v, %v", want, err)
	}
	for i, p := range prints {
		if !strings.EqualFold(p, want[0].Algorithm+" "+want[0].Value) {
			t.Fatalf("viewer %d offers fingerprint %q, want the shared certificate's %s %s", i, p, want[0].Algorithm, want[0].Value)
		}
	}
}

func fingerprint(d webrtc.SessionDescription) string {
	for _, l := range strings.Split(d.SDP, "\r\n") {
		if v, ok := strings.CutPrefix(l, "a=fingerprint:"); ok {
			return v
		}
	}
	return ""
}

// A viewer whose connection the server closes after it came up (as Colony
// sheds viewers past its capacity) ends with errConnEnded, not with
// errConnFailed, which is kept for connections that never came up: the
// report then tells shed viewers from failed handshakes.
func TestViewerClosedByServer(t *testing.T) {
	target, sh, win := rtcFixture(t)
	cases := []struct {
		mode  string
		stats *viewerStats
	}{
		{modeWHEP, newViewerStats(win, time.Now())},
		{modeWS, newViewerStats(win, time.Now())},
	}
	for _, tc := range cases {
		t.Run(tc.mode, func(t *testing.T) {
			var v viewerRunner = &whepViewer{url: target.url + "/whep", client: newHTTPClient(1), stats: tc.stats, rtc: sh}
			if tc.mode == modeWS {
				v = &wsViewer{url: strings.Replace(target.url, "http://", "ws://", 1) + "/ws",
					streamID: "stream1", stats: tc.stats, rtc: sh}
			}
			// The server's DTLS close_notify ends the viewer at once; if it
			// is lost (a loaded machine under -race), ICE fails it after
			// its disconnected and failed timeouts (5 + 25 s), so the wait
			// after the close outlasts those.
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- v.Run(ctx) }()
			waitUp(t, tc.stats, done)
			target.closeAll()
			select {
			case err := <-done:
				if !errors.Is(err, errConnEnded) {
					t.Errorf("viewer closed by the server after it came up: %v, want %v", err, errConnEnded)
				}
			case <-ctx.Done():
				t.Fatal("viewer still running after the server closed its connection")
			}
		})
	}
}

// A WebSocket viewer that the harness stops is not a failure even when the
// server's close of its PeerConnection reaches it first: stopping closes
// the WebSocket, on which the server ends the session, and on a loaded
// machine the close_notify can be seen before the viewer looks (the short
// matrix reported such a viewer as "connection ended after it came up").
func TestWSViewerStoppedWhileServerCloses(t *testing.T) {
	target, sh, win := rtcFixture(t)
	stats := newViewerStats(win, time.Now())
	closedFirst := make(chan bool, 1)
	v := &wsViewer{url: strings.Replace(target.url, "http://", "ws://", 1) + "/ws", streamID: "stream1", stats: stats, rtc: sh,
		afterRead: func(s *wsSession) {
			target.closeAll() // the server ends the session as the viewer stops
			s.mu.Lock()
			recv := s.recv
			s.mu.Unlock()
			select {
			case <-recv.failed:
				closedFirst <- true
			case <-time.After(30 * time.Second):
				closedFirst <- false
			}
		}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- v.Run(ctx) }()
	waitUp(t, stats, done)
	cancel() // the harness stops the viewer
	select {
	case err := <-done:
		if !<-closedFirst {
			t.Fatal("the server's close did not reach the viewer: the case is not tested")
		}
		if err != nil {
			t.Errorf("a viewer stopped by the harness: %v, want nil", err)
		}
	case <-time.After(45 * time.Second):
		t.Fatal("the viewer did not stop")
	}
}

// rtcFixture is a fake target, what its WebRTC viewers share, and an open
// measuring window.
func rtcFixture(t *testing.T) (*fakeTarget, *rtcShared, *window) {
	t.Helper()
	target := newFakeTarget(t, gohlslib.MuxerVariantLowLatency, 0)
	sh, err := newRTCShared(false)
	if err != nil {
		t.Fatal(err)
	}
	win := &window{}
	win.begin(time.Now())
	return target, sh, win
}

// waitUp waits until stats has the viewer's connection up; the viewer
// (done: its Run's result) must not end first, and must be up within 15 s.
func waitUp(t *testing.T, stats *viewerStats, done <-chan error) {
	t.Helper()
	upBy := time.After(15 * time.Second)
	for {
		stats.mu.Lock()
		up := !stats.connected.IsZero()
		stats.mu.Unlock()
		if up {
			return
		}
		select {
		case err := <-done:
			t.Fatalf("viewer ended before its connection came up: %v", err)
		case <-upBy:
			t.Fatal("the connection never came up")
		case <-time.After(10 * time.Millisecond):
		}
	}
}
