// Command fakeplugin is a transcoder plugin for the host's tests: it echoes
// the source's video units into every rendition. Its file name sets its
// behaviour: colony-transcoder-echo (and echo2, ...), -hang (stops
// answering after hangAfter units, yet keeps reading), -refuse (fails
// every session).
package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	transcoderv1 "github.com/colony-live/colony/plugins/transcoder/v1"
)

// mode is the plugin's name without digits: echo2 behaves as echo.
var mode = strings.TrimRight(strings.TrimPrefix(filepath.Base(os.Args[0]), transcoderv1.BinaryPrefix), "0123456789")

const hangAfter = 45

type fake struct{}

func (fake) Probe(context.Context) (*transcoderv1.ProbeResponse, error) {
	return &transcoderv1.ProbeResponse{Name: "fake-" + mode, Version: "test", ApiVersion: transcoderv1.ProtocolVersion,
		Codecs: []string{"H264"}, HardwareOk: true, Encoder: "copy"}, nil
}

func (fake) Transcode(ctx context.Context, start *transcoderv1.Start) (transcoderv1.Session, error) {
	if mode == "refuse" {
		return nil, status.Error(codes.FailedPrecondition, "this fake refuses every session")
	}
	video := -1
	for i, t := range start.Tracks {
		if t.Codec == "H264" {
			video = i
		}
	}
	return &session{ctx: ctx, start: start, video: video, out: make(chan *transcoderv1.TranscodeResponse, 1024)}, nil
}

type session struct {
	ctx   context.Context
	start *transcoderv1.Start
	video int
	out   chan *transcoderv1.TranscodeResponse
	n     int
}

func (s *session) put(r *transcoderv1.TranscodeResponse) error {
	select {
	case s.out <- r:
		return nil
	case <-s.ctx.Done():
		return s.ctx.Err()
	}
}

func (s *session) Send(u *transcoderv1.Unit) error {
	if int(u.Track) != s.video {
		return nil
	}
	s.n++
	if mode == "hang" && s.n > hangAfter {
		return nil
	}
	for i := range s.start.Ladder {
		if s.n == 1 {
			t := s.start.Tracks[s.video]
			if err := s.put(&transcoderv1.TranscodeResponse{Msg: &transcoderv1.TranscodeResponse_Tracks{
				Tracks: &transcoderv1.RenditionTracks{Rendition: uint32(i), Tracks: []*transcoderv1.Track{t}}}}); err != nil {
				return err
			}
		}
		v := &transcoderv1.Unit{Track: 0, Pts: u.Pts, Dts: u.Dts, Key: u.Key, Data: u.Data}
		if err := s.put(&transcoderv1.TranscodeResponse{Msg: &transcoderv1.TranscodeResponse_Unit{
			Unit: &transcoderv1.RenditionUnit{Rendition: uint32(i), Unit: v}}}); err != nil {
			return err
		}
	}
	return nil
}

func (s *session) CloseSend() error { close(s.out); return nil }

func (s *session) Recv() (*transcoderv1.TranscodeResponse, error) {
	select {
	case r, ok := <-s.out:
		if !ok {
			return nil, io.EOF
		}
		return r, nil
	case <-s.ctx.Done():
		return nil, s.ctx.Err()
	}
}

func main() {
	logger := hclog.New(&hclog.LoggerOptions{Name: "fake-" + mode, Output: os.Stderr, JSONFormat: true, Level: hclog.Debug})
	transcoderv1.Serve(fake{}, logger)
}
