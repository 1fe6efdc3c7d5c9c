package ffmpeg

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	transcoderv1 "github.com/colony-live/colony/plugins/transcoder/v1"
)

// session is one ffmpeg process transcoding one source.
type session struct {
	ctx    context.Context
	cancel context.CancelFunc
	log    hclog.Logger
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	in     *input
	stderr *stderrLog
	out    chan *transcoderv1.TranscodeResponse

	done chan struct{} // closed once ffmpeg and every output reader ended
	err  error         // why, set before done is closed
}

var _ transcoderv1.Session = (*session)(nil)

// startSession starts ffmpeg for j. The session ends when ctx is cancelled
// or ffmpeg exits.
func startSession(ctx context.Context, ffmpeg string, p Profile, j *job, log hclog.Logger) (*session, error) {
	ctx, cancel := context.WithCancel(ctx)
	s := &session{ctx: ctx, cancel: cancel, log: log, stderr: &stderrLog{log: log},
		out: make(chan *transcoderv1.TranscodeResponse, 64), done: make(chan struct{})}
	ok := false
	defer func() {
		if !ok {
			cancel()
		}
	}()

	args := j.args(p)
	log.Debug("starting ffmpeg", "args", args)
	s.cmd = exec.CommandContext(ctx, ffmpeg, args...)
	s.cmd.Stderr = s.stderr
	s.cmd.WaitDelay = 2 * time.Second
	setProcAttr(s.cmd)
	stdin, err := s.cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	s.stdin = stdin
	readers := make([]*os.File, 0, len(j.start.GetLadder()))
	closeAll := func(fs []*os.File) {
		for _, f := range fs {
			_ = f.Close()
		}
	}
	for range j.start.GetLadder() {
		r, w, err := os.Pipe()
		if err != nil {
			closeAll(readers)
			closeAll(s.cmd.ExtraFiles)
			return nil, err
		}
		readers = append(readers, r)
		s.cmd.ExtraFiles = append(s.cmd.ExtraFiles, w)
	}
	err = s.cmd.Start()
	closeAll(s.cmd.ExtraFiles) // ffmpeg has them now
	if err != nil {
		closeAll(readers)
		return nil, fmt.Errorf("starting ffmpeg: %w", err)
	}
	clk := &clock{}
	if s.in, err = newInput(stdin, j, clk); err != nil {
		cancel()
		closeAll(readers)
		_ = s.cmd.Wait()
		return nil, err
	}
	ok = true
	go s.run(readers, clk)
	return s, nil
}

// run reads every rendition until ffmpeg closes it, then reaps ffmpeg.
func (s *session) run(readers []*os.File, clk *clock) {
	var wg sync.WaitGroup
	errs := make([]error, len(readers))
	for i, r := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := &output{rendition: uint32(i), clock: clk, emit: s.emit}
			errs[i] = o.read(r)
			_ = r.Close()
			if errs[i] != nil {
				s.cancel() // ffmpeg would block on this pipe
			}
		}()
	}
	wg.Wait()
	werr := s.cmd.Wait()
	switch {
	case s.ctx.Err() != nil && !errors.Is(errors.Join(errs...), errRendition):
		s.err = s.ctx.Err()
	case werr != nil:
		s.err = fmt.Errorf("ffmpeg failed (%w): %s", werr, s.stderr.summary())
	default:
		s.err = errors.Join(errs...)
	}
	if s.err != nil && !errors.Is(s.err, context.Canceled) {
		s.log.Error("session failed", "error", s.err)
	} else {
		s.log.Debug("session ended")
	}
	s.cancel()
	close(s.done)
}

func (s *session) emit(r *transcoderv1.TranscodeResponse) error {
	select {
	case s.out <- r:
		return nil
	case <-s.ctx.Done():
		return s.ctx.Err()
	}
}

// Send writes one source unit to ffmpeg.
func (s *session) Send(u *transcoderv1.Unit) error {
	if err := s.in.write(u); err != nil {
		select {
		case <-s.done:
			if s.err != nil {
				return s.err
			}
		default:
		}
		return fmt.Errorf("writing to ffmpeg: %w", err)
	}
	return nil
}

// CloseSend closes ffmpeg's input: it flushes its encoders and exits.
func (s *session) CloseSend() error {
	return s.stdin.Close()
}

// Recv returns the next output, io.EOF after the last one, or why ffmpeg failed.
func (s *session) Recv() (*transcoderv1.TranscodeResponse, error) {
	select {
	case r := <-s.out:
		return r, nil
	default:
	}
	select {
	case r := <-s.out:
		return r, nil
	case <-s.done:
		select {
		case r := <-s.out:
			return r, nil
		default:
		}
		if s.err != nil {
			return nil, s.err
		}
		return nil, io.EOF
	}
}

// stop kills ffmpeg and waits until the session has ended.
func (s *session) stop() {
	s.cancel()
	<-s.done
}
