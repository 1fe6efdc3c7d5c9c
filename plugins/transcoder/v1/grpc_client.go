package transcoderv1

import (
	"context"
	"errors"
	"io"

	"google.golang.org/grpc"
)

// ErrSessionEnded is returned by a host-side Session's Send once the plugin
// has ended the session; Recv returns the reason.
var ErrSessionEnded = errors.New("transcoder session ended by the plugin")

// grpcClient is a Transcoder that calls a plugin over gRPC (the host side).
type grpcClient struct {
	c TranscoderClient
}

// NewGRPCClient returns a Transcoder that calls the plugin served on conn.
func NewGRPCClient(conn grpc.ClientConnInterface) Transcoder {
	return &grpcClient{c: NewTranscoderClient(conn)}
}

func (c *grpcClient) Probe(ctx context.Context) (*ProbeResponse, error) {
	return c.c.Probe(ctx, &ProbeRequest{})
}

func (c *grpcClient) Transcode(ctx context.Context, start *Start) (Session, error) {
	st, err := c.c.Transcode(ctx)
	if err != nil {
		return nil, err
	}
	if err := st.Send(&TranscodeRequest{Msg: &TranscodeRequest_Start{Start: start}}); err != nil {
		if errors.Is(err, io.EOF) {
			// gRPC reports the real status on Recv; nobody else reads yet.
			if _, rerr := st.Recv(); rerr != nil && !errors.Is(rerr, io.EOF) {
				return nil, rerr
			}
			return nil, ErrSessionEnded
		}
		return nil, err
	}
	return &clientSession{st: st}, nil
}

type clientSession struct {
	st grpc.BidiStreamingClient[TranscodeRequest, TranscodeResponse]
}

func (s *clientSession) Send(u *Unit) error {
	err := s.st.Send(&TranscodeRequest{Msg: &TranscodeRequest_Unit{Unit: u}})
	if errors.Is(err, io.EOF) {
		// gRPC reports the real status on Recv, which another goroutine calls.
		return ErrSessionEnded
	}
	return err
}

func (s *clientSession) CloseSend() error { return s.st.CloseSend() }

func (s *clientSession) Recv() (*TranscodeResponse, error) { return s.st.Recv() }
