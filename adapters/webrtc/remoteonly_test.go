package webrtc

import (
	"sync"
	"testing"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
)

// bindLog is an interceptor that records the writers it is bound to.
type bindLog struct {
	interceptor.NoOp
	mu      sync.Mutex
	writers []interceptor.RTCPWriter
	remotes int
}

func (b *bindLog) BindRTCPWriter(w interceptor.RTCPWriter) interceptor.RTCPWriter {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.writers = append(b.writers, w)
	return w
}

func (b *bindLog) BindRemoteStream(_ *interceptor.StreamInfo, r interceptor.RTPReader) interceptor.RTPReader {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.remotes++
	return r
}

type bindLogFactory struct{ b *bindLog }

func (f bindLogFactory) NewInterceptor(string) (interceptor.Interceptor, error) { return f.b, nil }

// TestRemoteOnly: the wrapped interceptor gets the RTCP writer only with
// the first remote stream, once, and never on a connection without one.
func TestRemoteOnly(t *testing.T) {
	tests := []struct {
		name        string
		remotes     int
		wantWriters int
	}{
		{"a viewer: no remote stream", 0, 0},
		{"a publisher: one remote stream", 1, 1},
		{"a publisher: video and audio", 2, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := &bindLog{}
			it, err := remoteOnly{bindLogFactory{b}}.NewInterceptor("")
			if err != nil {
				t.Fatal(err)
			}
			var log rtcpLog
			if got := it.BindRTCPWriter(&log); got != interceptor.RTCPWriter(&log) {
				t.Fatal("BindRTCPWriter does not return the writer")
			}
			reader := interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) { return 0, a, nil })
			for i := range tc.remotes {
				it.BindRemoteStream(&interceptor.StreamInfo{SSRC: uint32(i + 1)}, reader)
			}
			b.mu.Lock()
			defer b.mu.Unlock()
			if len(b.writers) != tc.wantWriters || b.remotes != tc.remotes {
				t.Fatalf("bound %d writers and %d remote streams, want %d and %d", len(b.writers), b.remotes, tc.wantWriters, tc.remotes)
			}
			if tc.wantWriters > 0 {
				_, _ = b.writers[0].Write([]rtcp.Packet{&rtcp.PictureLossIndication{}}, nil)
				if len(log.take()) != 1 {
					t.Fatal("the writer given later is not the connection's")
				}
			}
		})
	}
}
