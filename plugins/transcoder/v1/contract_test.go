package transcoderv1_test

import (
	"context"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	transcoderv1 "github.com/colony-live/colony/plugins/transcoder/v1"
)

// In go-plugin's test mode the "plugin process" a reattached client watches
// is this test binary itself (ReattachConfig.Pid is os.Getpid()), so the
// client's pidWait goroutine can only end when the binary exits.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/hashicorp/go-plugin/internal/cmdrunner.pidWait"))
}

// echo is a fake plugin: every rung gets the source's tracks and units.
type echo struct{ failStart bool }

func (echo) Probe(context.Context) (*transcoderv1.ProbeResponse, error) {
	return &transcoderv1.ProbeResponse{Name: "echo", Version: "test", ApiVersion: transcoderv1.ProtocolVersion,
		Codecs: []string{"H264"}, HardwareOk: false, Reason: "no such device", Encoder: "none", Hardware: true}, nil
}

func (e echo) Transcode(ctx context.Context, start *transcoderv1.Start) (transcoderv1.Session, error) {
	if e.failStart {
		return nil, status.Error(codes.FailedPrecondition, "encoder unavailable")
	}
	s := &echoSession{ctx: ctx, start: start, out: make(chan *transcoderv1.TranscodeResponse, 64)}
	for i := range start.Ladder {
		s.out <- &transcoderv1.TranscodeResponse{Msg: &transcoderv1.TranscodeResponse_Tracks{
			Tracks: &transcoderv1.RenditionTracks{Rendition: uint32(i), Tracks: start.Tracks}}}
	}
	return s, nil
}

type echoSession struct {
	ctx   context.Context
	start *transcoderv1.Start
	out   chan *transcoderv1.TranscodeResponse
}

func (s *echoSession) Send(u *transcoderv1.Unit) error {
	for i := range s.start.Ladder {
		select {
		case s.out <- &transcoderv1.TranscodeResponse{Msg: &transcoderv1.TranscodeResponse_Unit{
			Unit: &transcoderv1.RenditionUnit{Rendition: uint32(i), Unit: u}}}:
		case <-s.ctx.Done():
			return s.ctx.Err()
		}
	}
	return nil
}

func (s *echoSession) CloseSend() error { close(s.out); return nil }

func (s *echoSession) Recv() (*transcoderv1.TranscodeResponse, error) {
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

// serveInProcess runs impl as a plugin in this process (go-plugin test mode)
// and returns the host's view of it through a real go-plugin client.
func serveInProcess(t *testing.T, impl transcoderv1.Transcoder) transcoderv1.Transcoder {
	t.Helper()
	return serveInProcessWrapped(t, impl, nil)
}

// serveInProcessWrapped is serveInProcess with the host's connection to
// the plugin wrapped by wrap (nil: not wrapped).
func serveInProcessWrapped(t *testing.T, impl transcoderv1.Transcoder, wrap func(net.Conn) net.Conn) transcoderv1.Transcoder {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	reattach := make(chan *plugin.ReattachConfig, 1)
	closed := make(chan struct{})
	logger := hclog.NewNullLogger()
	cfg := transcoderv1.ServeConfig(impl, logger)
	cfg.Test = &plugin.ServeTestConfig{Context: ctx, ReattachConfigCh: reattach, CloseCh: closed}
	go plugin.Serve(cfg)
	var rc *plugin.ReattachConfig
	select {
	case rc = <-reattach:
	case <-time.After(10 * time.Second):
		t.Fatal("plugin did not start")
	}
	dial := transcoderv1.DialOptions()
	if wrap != nil {
		// After go-plugin's own dialer, so this one is used.
		dial = append(dial, grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, rc.Addr.Network(), rc.Addr.String())
			if err != nil {
				return nil, err
			}
			return wrap(c), nil
		}))
	}
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig: transcoderv1.Handshake(),
		// A reattached client skips the version negotiation: it uses the
		// set of the version the test server reported.
		Plugins:          transcoderv1.PluginSets(nil)[rc.ProtocolVersion],
		Reattach:         rc,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		GRPCDialOptions:  dial,
		Logger:           logger,
	})
	rpc, err := client.Client()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Stop serving first, then close the connection (Kill does nothing
		// to a test-mode client). Doing both at once races inside go-plugin
		// (two GRPCServer.Stop calls).
		cancel()
		<-closed
		_ = rpc.Close()
		client.Kill()
	})
	if v := client.NegotiatedVersion(); v != transcoderv1.ProtocolVersion {
		t.Fatalf("negotiated protocol %d, want %d", v, transcoderv1.ProtocolVersion)
	}
	raw, err := rpc.Dispense(transcoderv1.PluginName)
	if err != nil {
		t.Fatal(err)
	}
	tc, ok := raw.(transcoderv1.Transcoder)
	if !ok {
		t.Fatalf("dispensed %T, not a Transcoder", raw)
	}
	return tc
}

func TestProbeRoundTrip(t *testing.T) {
	tc := serveInProcess(t, echo{})
	got, err := tc.Probe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want, _ := echo{}.Probe(context.Background())
	if !proto.Equal(got, want) {
		t.Fatalf("probe = %v, want %v", got, want)
	}
}

func TestTranscodeRoundTrip(t *testing.T) {
	tc := serveInProcess(t, echo{})
	start := &transcoderv1.Start{
		Session: "live/test",
		Tracks: []*transcoderv1.Track{
			{Codec: "H264", ClockRate: 90000, Sps: []byte{0x67, 1, 2, 3}, Pps: []byte{0x68, 4}, Width: 640, Height: 360},
			{Codec: "AAC", ClockRate: 48000, Config: []byte{0x11, 0x90}, SampleRate: 48000, Channels: 2},
		},
		Ladder:  []*transcoderv1.Rung{{Name: "360p", Width: 640, Height: 360, VideoBitrate: 800_000}, {Name: "opus", AudioCodec: "Opus", AudioBitrate: 64_000}},
		Options: &transcoderv1.Options{CopyAudio: true},
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sess, err := tc.Transcode(ctx, start)
	if err != nil {
		t.Fatal(err)
	}
	in := []*transcoderv1.Unit{
		{Track: 0, Pts: 66_000_000, Dts: 0, Key: true, Data: []byte{0, 0, 0, 1, 0x65}},
		{Track: 1, Pts: 21_333_333, Dts: 21_333_333, Key: true, Data: make([]byte, 300)},
		{Track: 0, Pts: 33_000_000, Dts: 33_000_000, Data: []byte{0, 0, 0, 1, 0x41}},
	}
	sendErr := make(chan error, 1)
	go func() {
		for _, u := range in {
			if err := sess.Send(u); err != nil {
				sendErr <- err
				return
			}
		}
		sendErr <- sess.CloseSend()
	}()
	tracks := map[uint32]int{}
	var units []*transcoderv1.RenditionUnit
	for {
		r, err := sess.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch m := r.Msg.(type) {
		case *transcoderv1.TranscodeResponse_Tracks:
			if !proto.Equal(&transcoderv1.Start{Tracks: m.Tracks.Tracks}, &transcoderv1.Start{Tracks: start.Tracks}) {
				t.Fatalf("rendition %d tracks = %v", m.Tracks.Rendition, m.Tracks.Tracks)
			}
			tracks[m.Tracks.Rendition]++
		case *transcoderv1.TranscodeResponse_Unit:
			if tracks[m.Unit.Rendition] == 0 {
				t.Fatalf("unit of rendition %d before its tracks", m.Unit.Rendition)
			}
			units = append(units, m.Unit)
		default:
			t.Fatalf("unexpected response %T", r.Msg)
		}
	}
	if err := <-sendErr; err != nil {
		t.Fatal(err)
	}
	if len(tracks) != 2 || len(units) != 2*len(in) {
		t.Fatalf("got tracks for %d renditions and %d units, want 2 and %d", len(tracks), len(units), 2*len(in))
	}
	for i, u := range units {
		if want := in[i/2]; !proto.Equal(u.Unit, want) || u.Rendition != uint32(i%2) {
			t.Fatalf("unit %d = %v, want %v on rendition %d", i, u, want, i%2)
		}
	}
}

func TestTranscodeStartErrorReachesHost(t *testing.T) {
	tc := serveInProcess(t, echo{failStart: true})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sess, err := tc.Transcode(ctx, &transcoderv1.Start{Ladder: []*transcoderv1.Rung{{Name: "x"}}})
	if err == nil {
		_, err = sess.Recv()
	}
	if status.Code(err) != codes.FailedPrecondition || status.Convert(err).Message() != "encoder unavailable" {
		t.Fatalf("error = %v, want FailedPrecondition: encoder unavailable", err)
	}
}

func TestFirstMessageMustBeStart(t *testing.T) {
	client, server := plugin.TestPluginGRPCConn(t, false, transcoderv1.PluginSets(echo{})[transcoderv1.ProtocolVersion])
	_ = server // client.Close stops it (through the controller's Shutdown)
	defer client.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := transcoderv1.NewTranscoderClient(client.Conn).Transcode(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&transcoderv1.TranscodeRequest{Msg: &transcoderv1.TranscodeRequest_Unit{Unit: &transcoderv1.Unit{}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("error = %v, want InvalidArgument", err)
	}
}

func TestHandshakeIsFixed(t *testing.T) {
	h := transcoderv1.Handshake()
	if h.ProtocolVersion != 1 || h.MagicCookieKey != "COLONY_TRANSCODER_PLUGIN" || h.MagicCookieValue != "8c7f2b1e5d4a4f0e9b3c6a1d2e7f9b40" {
		t.Fatalf("handshake changed: %+v", h)
	}
	sets := transcoderv1.PluginSets(nil)
	if _, ok := sets[1][transcoderv1.PluginName]; !ok || len(sets) != 1 {
		t.Fatalf("plugin sets = %v", sets)
	}
}

// TestNoFlowControlPings: a session's units, one at a time each way as
// the audio bridge sends them, cost no HTTP/2 PING frames between host and
// plugin. With gRPC's dynamic flow-control windows every data frame
// received with no bandwidth probe outstanding sent a window update and a
// PING (and brought back its ack): at a few hundred small messages a
// second, a third of the plugin's wake-ups. The contract's static windows
// turn the probing off.
func TestNoFlowControlPings(t *testing.T) {
	var toPlugin, toHost h2Frames
	toPlugin.preface = len(http2Preface)
	tc := serveInProcessWrapped(t, echo{}, func(c net.Conn) net.Conn {
		return &countingConn{Conn: c, out: &toPlugin, in: &toHost}
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sess, err := tc.Transcode(ctx, &transcoderv1.Start{Session: "live/pings",
		Tracks: []*transcoderv1.Track{{Codec: "AAC", ClockRate: 48000, SampleRate: 48000, Channels: 2}},
		Ladder: []*transcoderv1.Rung{{Name: "opus", AudioCodec: "Opus", AudioBitrate: 64_000}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sess.Recv(); err != nil { // the rendition's tracks
		t.Fatal(err)
	}
	const units = 200
	for i := range units {
		if err := sess.Send(&transcoderv1.Unit{Pts: int64(i) * 21_333_333, Key: true, Data: make([]byte, 400)}); err != nil {
			t.Fatal(err)
		}
		if _, err := sess.Recv(); err != nil {
			t.Fatal(err)
		}
	}
	data := toPlugin.frames[frameData].Load() + toHost.frames[frameData].Load()
	pings := toPlugin.frames[framePing].Load() + toHost.frames[framePing].Load()
	if data < 2*units {
		t.Fatalf("%d DATA frames seen for %d units each way: the counter misses frames", data, units)
	}
	if pings != 0 {
		t.Fatalf("%d PING frames for %d units each way (%d DATA frames), want none", pings, units, data)
	}
}

const (
	http2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
	frameData    = 0x0
	framePing    = 0x6
)

// h2Frames counts the HTTP/2 frames of one direction of a connection by
// type, from the bytes as they pass.
type h2Frames struct {
	preface int     // bytes of the client preface still to skip
	hdr     [9]byte // the frame header being read
	nhdr    int
	skip    int // payload bytes of the current frame still to pass
	frames  [10]atomic.Int64
}

func (f *h2Frames) feed(p []byte) {
	for len(p) > 0 {
		switch {
		case f.preface > 0:
			n := min(f.preface, len(p))
			f.preface -= n
			p = p[n:]
		case f.skip > 0:
			n := min(f.skip, len(p))
			f.skip -= n
			p = p[n:]
		default:
			n := copy(f.hdr[f.nhdr:], p)
			f.nhdr += n
			p = p[n:]
			if f.nhdr == len(f.hdr) {
				f.nhdr = 0
				f.skip = int(f.hdr[0])<<16 | int(f.hdr[1])<<8 | int(f.hdr[2])
				if typ := int(f.hdr[3]); typ < len(f.frames) {
					f.frames[typ].Add(1)
				}
			}
		}
	}
}

// countingConn counts the frames written (out) and read (in).
type countingConn struct {
	net.Conn
	out, in *h2Frames
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.out.feed(p[:n])
	return n, err
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.in.feed(p[:n])
	return n, err
}
