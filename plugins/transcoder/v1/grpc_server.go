package transcoderv1

import (
	"context"
	"errors"
	"io"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// grpcServer serves a Transcoder over gRPC (the plugin side).
type grpcServer struct {
	UnimplementedTranscoderServer
	impl Transcoder
}

// NewGRPCServer returns the gRPC service that serves impl.
func NewGRPCServer(impl Transcoder) TranscoderServer { return &grpcServer{impl: impl} }

func (s *grpcServer) Probe(ctx context.Context, _ *ProbeRequest) (*ProbeResponse, error) {
	return s.impl.Probe(ctx)
}

// Transcode runs one session: a goroutine pumps the host's units into the
// session while this one sends the session's outputs back.
func (s *grpcServer) Transcode(stream grpc.BidiStreamingServer[TranscodeRequest, TranscodeResponse]) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	start := first.GetStart()
	if start == nil {
		return status.Error(codes.InvalidArgument, "the first message of a session must be a Start")
	}
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	sess, err := s.impl.Transcode(ctx, start)
	if err != nil {
		return err
	}
	var inputClosed atomic.Bool
	inErr := make(chan error, 1)
	go func() {
		err := pumpInput(stream, sess, &inputClosed)
		if err != nil {
			cancel()
		}
		inErr <- err
	}()
	for {
		out, err := sess.Recv()
		if errors.Is(err, io.EOF) {
			if !inputClosed.Load() {
				return status.Error(codes.Aborted, "the session ended before its input did")
			}
			return nil
		}
		if err != nil {
			select {
			case perr := <-inErr:
				if perr != nil {
					return perr
				}
			default:
			}
			return err
		}
		if err := stream.Send(out); err != nil {
			return err
		}
	}
}

// pumpInput passes the host's units to sess until the host half-closes.
func pumpInput(stream grpc.BidiStreamingServer[TranscodeRequest, TranscodeResponse], sess Session, closed *atomic.Bool) error {
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			closed.Store(true)
			return sess.CloseSend()
		}
		if err != nil {
			return err
		}
		u := req.GetUnit()
		if u == nil {
			return status.Error(codes.InvalidArgument, "only units may follow the Start")
		}
		if err := sess.Send(u); err != nil {
			return err
		}
	}
}
