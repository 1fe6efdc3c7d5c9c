package engine

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/core/node"
	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	selfID     node.ID = "node-a"
	testDead           = 20 * time.Second
	testPurge          = time.Hour
	waitFor            = 3 * time.Second
	testApp            = stream.App("LiveApp")
	selfPublic         = "a.example.com"
	selfRelay          = "10.0.0.1:7000"
)

// sps320x240 is a real H.264 SPS for 320x240.
var sps320x240 = []byte{0x67, 0x64, 0x00, 0x0d, 0xac, 0xd9, 0x41, 0x41, 0xfa, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0xc0, 0xf1, 0x42, 0x99, 0x60}

var avTracks = []media.Track{
	{Codec: media.H264, ClockRate: 90000, SPS: sps320x240, PPS: []byte{0x68, 0xeb, 0xe3, 0xcb}},
	{Codec: media.AAC, ClockRate: 48000, SampleRate: 48000, Channels: 2},
}

func key(id string) stream.Key { return stream.Key{App: testApp, ID: stream.ID(id)} }

// harness holds an Engine and its fakes.
type harness struct {
	e     *Engine
	store *fakeStore
	clock *fakeClock
	out   *attachRecorder
}

// option adjusts the Config and Deps of a test engine.
type option func(*Config, *Deps)

func withRole(r node.Role) option { return func(c *Config, _ *Deps) { c.Self.Role = r } }

func withPuller(p ports.Puller) option { return func(_ *Config, d *Deps) { d.Puller = p } }

func withViewers(proto string, v ports.ViewerCounter) option {
	return func(_ *Config, d *Deps) {
		if d.Viewers == nil {
			d.Viewers = map[string]ports.ViewerCounter{}
		}
		d.Viewers[proto] = v
	}
}

func withAuth(a ports.Authorizer) option { return func(_ *Config, d *Deps) { d.Auth = a } }

func withLoad(l ports.LoadSampler) option { return func(_ *Config, d *Deps) { d.Load = l } }

func withConfig(f func(*Config)) option { return func(c *Config, _ *Deps) { f(c) } }

// newHarness returns an engine over a fresh fake store, a fake clock and a recording output.
func newHarness(t *testing.T, opts ...option) *harness {
	t.Helper()
	h := &harness{store: newFakeStore(), clock: newFakeClock(), out: &attachRecorder{}}
	cfg := Config{
		Self:            node.Node{ID: selfID, Role: node.RoleBoth, InternalAddr: selfRelay, PublicAddr: selfPublic},
		HeartbeatEvery:  20 * time.Millisecond,
		DeadAfter:       testDead,
		PurgeAfter:      testPurge,
		PullIdleTimeout: 100 * time.Millisecond,
		PullRetryFor:    time.Second,
		DrainTimeout:    250 * time.Millisecond,
		Now:             h.clock.Now,
		Logger:          slog.New(slog.DiscardHandler),
	}
	deps := Deps{Store: h.store, Outputs: []ports.Output{h.out}}
	for _, o := range opts {
		o(&cfg, &deps)
	}
	e, err := New(cfg, deps)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h.e = e
	return h
}

// run starts Run in the background. The returned stop cancels it and
// waits for it to return (also done at cleanup).
func (h *harness) run(t *testing.T) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.e.Run(ctx) }()
	var result error
	stopped := false
	stop = func() error {
		t.Helper()
		if stopped {
			return result
		}
		stopped = true
		cancel()
		select {
		case result = <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return after its context was cancelled")
		}
		return result
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// publish publishes key and fails the test on error.
func (h *harness) publish(t *testing.T, k stream.Key) ports.Publication {
	t.Helper()
	pub, err := h.e.Publish(ctxT(t), ports.PublishRequest{Key: k, PublishType: stream.PublishRTMP, RemoteAddr: "192.0.2.1:5000"})
	if err != nil {
		t.Fatalf("Publish %s: %v", k, err)
	}
	return pub
}

// start publishes key and starts it with avTracks; End runs at cleanup.
func (h *harness) start(t *testing.T, k stream.Key) (ports.Publication, *media.Stream) {
	t.Helper()
	pub := h.publish(t, k)
	s, err := pub.Start(avTracks)
	if err != nil {
		t.Fatalf("Start %s: %v", k, err)
	}
	t.Cleanup(func() { pub.End(nil) })
	return pub, s
}

// ctxT is a test-scoped context with a deadline.
func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// eventually polls cond until it holds or waitFor passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// closed reports whether c is closed (without waiting).
func closed[T any](c <-chan T) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// waitClosed fails the test unless c closes within waitFor.
func waitClosed[T any](t *testing.T, what string, c <-chan T) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(waitFor):
		t.Fatalf("timed out waiting: %s", what)
	}
}
