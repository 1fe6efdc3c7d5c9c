package rtmp

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	gortmp "github.com/yutopp/go-rtmp"
	"github.com/yutopp/go-rtmp/message"
)

// scriptedPublisher is a go-rtmp client that publishes hand-made tags.
type scriptedPublisher struct {
	cc *gortmp.ClientConn
	s  *gortmp.Stream
}

func dialPublish(t *testing.T, addr, app, name string) *scriptedPublisher {
	t.Helper()
	lg := logrus.New()
	lg.Out = io.Discard
	cc, err := gortmp.Dial("rtmp", addr, &gortmp.ConnConfig{Logger: lg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	if err := cc.Connect(&message.NetConnectionConnect{Command: message.NetConnectionConnectCommand{App: app}}); err != nil {
		t.Fatal(err)
	}
	s, err := cc.CreateStream(nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Publish(&message.NetStreamPublish{PublishingName: name, PublishingType: "live"}); err != nil {
		t.Fatal(err)
	}
	return &scriptedPublisher{cc: cc, s: s}
}

func (p *scriptedPublisher) video(ts uint32, body []byte) error {
	return p.s.Write(6, ts, &message.VideoMessage{Payload: bytes.NewReader(body)})
}

func (p *scriptedPublisher) audio(ts uint32, body []byte) error {
	return p.s.Write(4, ts, &message.AudioMessage{Payload: bytes.NewReader(body)})
}

// A publisher that sends something wrong is disconnected and its
// publication ends with the reason; the server keeps serving others.
func TestBadPublisherEndsWithError(t *testing.T) {
	t.Parallel()
	rec := newPubRecorder(t)
	srv, addr := startServer(t, rec.ingest(), Config{MaxStartWait: 200 * time.Millisecond, MaxMessageSize: 64 << 10})

	tests := []struct {
		name    string
		send    func(p *scriptedPublisher) error
		wantErr error
	}{
		{
			name: "malformed video tag",
			send: func(p *scriptedPublisher) error {
				_ = p.video(0, avcSeqHeader())
				return p.video(0, []byte{0x17, 0x01, 0x00})
			},
			wantErr: ErrMalformedTag,
		},
		{
			name: "malformed AAC config",
			send: func(p *scriptedPublisher) error {
				return p.audio(0, aacSeqHeader([]byte{0xf8}))
			},
			wantErr: ErrMalformedTag,
		},
		{
			name: "oversized message",
			send: func(p *scriptedPublisher) error {
				_ = p.video(0, avcSeqHeader())
				return p.video(0, avcFrame(1, 0, append([]byte{0x65}, make([]byte, 100<<10)...)))
			},
			wantErr: ErrMessageTooLarge,
		},
		{
			name:    "unsupported codec",
			send:    func(p *scriptedPublisher) error { return p.video(0, []byte{0x12, 0, 0, 0}) },
			wantErr: ErrUnsupportedCodec,
		},
		{
			name: "no sequence header",
			send: func(p *scriptedPublisher) error {
				for i := range 20 {
					if err := p.video(uint32(i*33), avcFrame(2, 0, testP)); err != nil {
						return err
					}
					time.Sleep(33 * time.Millisecond)
				}
				return nil
			},
			wantErr: ErrNoTracks,
		},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := dialPublish(t, addr, "LiveApp", "bad"+string(rune('a'+i)))
			pub := rec.next(t, 3*time.Second)
			_ = tc.send(p) // the server may close the connection meanwhile
			if err := pub.waitEnded(t, 3*time.Second); !errors.Is(err, tc.wantErr) {
				t.Fatalf("End(%v), want %v", err, tc.wantErr)
			}
			_ = p.cc.Close()
			waitFor(t, 2*time.Second, func() bool { return srv.Stats().Connections == 0 })
		})
	}

	// A good publisher still works, and one with video only starts after
	// MaxStartWait.
	p := dialPublish(t, addr, "LiveApp", "good")
	pub := rec.next(t, 3*time.Second)
	if err := p.video(0, avcSeqHeader()); err != nil {
		t.Fatal(err)
	}
	// Video only: it starts once MaxStartWait has passed.
	for i := 0; ; i++ {
		frame := avcFrame(2, 0, testP)
		if i == 0 {
			frame = avcFrame(1, 0, testIDR)
		}
		if err := p.video(uint32(i*33), frame); err != nil {
			t.Fatal(err)
		}
		select {
		case <-pub.started:
		case <-time.After(33 * time.Millisecond):
			if i < 100 {
				continue
			}
		}
		break
	}
	pub.waitStarted(t, 2*time.Second)
	if len(pub.tracks) != 1 || pub.tracks[0].Width != 320 {
		t.Fatalf("tracks = %+v, want H.264 320x240 only", pub.tracks)
	}
	_ = p.cc.Close()
	if err := pub.waitEnded(t, 3*time.Second); err != nil {
		t.Fatalf("End(%v), want End(nil) after the publisher closed", err)
	}
}
