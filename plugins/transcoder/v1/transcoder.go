package transcoderv1

import "context"

// Transcoder is what a plugin implements, and what the host gets when it
// dispenses PluginName.
type Transcoder interface {
	// Probe runs a trial encode and reports the plugin's identity and
	// whether its encoder works here. A failed trial is not an error: it is
	// HardwareOk false with a Reason.
	Probe(ctx context.Context) (*ProbeResponse, error)
	// Transcode starts a session. The session ends when ctx is cancelled or
	// after its input is closed and its output drained.
	Transcode(ctx context.Context, start *Start) (Session, error)
}

// Session is one running transcode: source units in, rendition tracks and
// units out. Send and CloseSend are called from one goroutine, Recv from
// another.
type Session interface {
	// Send passes one source unit, in decoding order.
	Send(u *Unit) error
	// CloseSend ends the input: the plugin flushes its encoders, and Recv
	// returns io.EOF after the last output.
	CloseSend() error
	// Recv returns the next output: a *TranscodeResponse holding either a
	// RenditionTracks or a RenditionUnit. It returns io.EOF at the end.
	Recv() (*TranscodeResponse, error)
}
