package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
)

// fakeTranscoder is a ports.Transcoder whose Transcode runs fn (default:
// one stream per rung, named {height}p, that ends when ctx does).
type fakeTranscoder struct {
	fn    func(ctx context.Context, n int, ladder []stream.Rendition) ([]ports.Rendition, error)
	calls atomic.Int32

	mu      sync.Mutex
	streams [][]*media.Stream // per call
}

func (f *fakeTranscoder) Transcode(ctx context.Context, _ stream.Key, _ *media.Stream, ladder []stream.Rendition) ([]ports.Rendition, error) {
	n := int(f.calls.Add(1))
	if f.fn != nil {
		return f.fn(ctx, n, ladder)
	}
	rs := renditionsFor(ctx, ladder)
	f.mu.Lock()
	var ss []*media.Stream
	for _, r := range rs {
		ss = append(ss, r.Stream)
	}
	f.streams = append(f.streams, ss)
	f.mu.Unlock()
	return rs, nil
}

func (f *fakeTranscoder) call(i int) []*media.Stream {
	f.mu.Lock()
	defer f.mu.Unlock()
	if i >= len(f.streams) {
		return nil
	}
	return f.streams[i]
}

// renditionsFor makes one stream per rung that ends with ctx.
func renditionsFor(ctx context.Context, ladder []stream.Rendition) []ports.Rendition {
	var rs []ports.Rendition
	for _, r := range ladder {
		s := media.NewStream(avTracks, media.StreamConfig{})
		context.AfterFunc(ctx, s.Close)
		rs = append(rs, ports.Rendition{Name: fmt.Sprintf("%dp", r.Height), Rung: r, Stream: s})
	}
	return rs
}

var testLadder = []stream.Rendition{{Height: 240, VideoBitrate: 300_000}, {Height: 480, VideoBitrate: 800_000}}

// withABR gives the engine tc and a fixed ladder.
func withABR(tc ports.Transcoder, ladder []stream.Rendition) option {
	return func(c *Config, d *Deps) {
		c.TranscodeRetry = 10 * time.Millisecond
		d.Transcoder = tc
		d.Ladder = func(context.Context, stream.Key) ([]stream.Rendition, error) { return ladder, nil }
	}
}

func TestRenditionLifecycle(t *testing.T) {
	tc := &fakeTranscoder{}
	h := newHarness(t, withABR(tc, testLadder))
	k := key("s1")
	pub, _ := h.start(t, k)
	r480, r240 := key("s1_480p"), key("s1_240p")
	eventually(t, "renditions live", func() bool {
		_, a := h.e.LocalStream(r480)
		_, b := h.e.LocalStream(r240)
		return a && b
	})
	for _, rk := range []stream.Key{r480, r240} {
		if c, ok := h.store.claim(rk); !ok || c.Node != selfID {
			t.Fatalf("rendition %s not claimed by this node: %+v %v", rk, c, ok)
		}
		if _, ok := h.store.broadcast(rk); ok {
			t.Fatalf("rendition %s got a broadcast record", rk)
		}
	}
	keys, _ := h.out.attached()
	if !slices.Contains(keys, r480) || !slices.Contains(keys, r240) {
		t.Fatalf("outputs attached %v, want the renditions too", keys)
	}
	if got := h.e.Renditions(k); len(got) != 2 {
		t.Fatalf("Renditions = %+v", got)
	}
	got, err := h.e.RenditionKeys(ctxT(t), k)
	if err != nil || !slices.Equal(got, []stream.Key{r480, r240}) {
		t.Fatalf("RenditionKeys = %v, %v; want tallest first", got, err)
	}
	if h.e.Stop(r480) {
		t.Fatal("Stop kicked a rendition")
	}
	var live int
	for _, ls := range h.e.Live() {
		if ls.Rendition {
			live++
		}
	}
	if live != 2 {
		t.Fatalf("Live lists %d renditions", live)
	}

	pub.End(nil)
	for _, rk := range []stream.Key{r480, r240} {
		if _, ok := h.e.LocalStream(rk); ok {
			t.Fatalf("rendition %s still live after End", rk)
		}
		if _, ok := h.store.claim(rk); ok {
			t.Fatalf("rendition %s still claimed after End", rk)
		}
	}
	for _, s := range tc.call(0) {
		if !closed(s.Done()) {
			t.Fatal("rendition stream not closed after End")
		}
	}
	if got := h.e.Renditions(k); got != nil {
		t.Fatalf("Renditions after End = %+v", got)
	}
	if n := tc.calls.Load(); n != 1 {
		t.Fatalf("Transcode called %d times", n)
	}
}

func TestNoLadderNoTranscode(t *testing.T) {
	tc := &fakeTranscoder{}
	h := newHarness(t, withABR(tc, nil))
	h.start(t, key("s1"))
	time.Sleep(50 * time.Millisecond)
	if n := tc.calls.Load(); n != 0 {
		t.Fatalf("Transcode called %d times without a ladder", n)
	}
	if got, _ := h.e.RenditionKeys(ctxT(t), key("s1")); len(got) != 0 {
		t.Fatalf("RenditionKeys = %v", got)
	}
}

func TestTranscoderFailureLeavesSourcePlaying(t *testing.T) {
	tc := &fakeTranscoder{fn: func(context.Context, int, []stream.Rendition) ([]ports.Rendition, error) {
		return nil, errors.New("plugin missing")
	}}
	h := newHarness(t, withABR(tc, testLadder))
	k := key("s1")
	_, s := h.start(t, k)
	eventually(t, "three attempts", func() bool { return tc.calls.Load() >= maxTranscodeFailures })
	time.Sleep(100 * time.Millisecond)
	if n := tc.calls.Load(); n != maxTranscodeFailures {
		t.Fatalf("Transcode called %d times, want %d then give up", n, maxTranscodeFailures)
	}
	if got, ok := h.e.LocalStream(k); !ok || got != s || closed(s.Done()) {
		t.Fatal("the source stopped with the transcoder")
	}
	if b, _ := h.store.broadcast(k); b.Status != stream.StatusBroadcasting {
		t.Fatalf("source status %s", b.Status)
	}
}

func TestRenditionsEndedAreTranscodedAgain(t *testing.T) {
	tc := &fakeTranscoder{}
	h := newHarness(t, withABR(tc, testLadder[:1]))
	k := key("s1")
	h.start(t, k)
	r := key("s1_240p")
	eventually(t, "first rendition", func() bool { return len(tc.call(0)) == 1 })
	first := tc.call(0)[0]
	eventually(t, "rendition live", func() bool { s, ok := h.e.LocalStream(r); return ok && s == first })
	first.Close() // the transcoder gave up on this session
	eventually(t, "transcoded again", func() bool {
		s, ok := h.e.LocalStream(r)
		return ok && s != first && tc.calls.Load() == 2
	})
	if c, ok := h.store.claim(r); !ok || c.Node != selfID {
		t.Fatalf("rendition claim %+v %v", c, ok)
	}
}

func TestEndWhileTranscodeStarts(t *testing.T) {
	entered := make(chan struct{})
	tc := &fakeTranscoder{fn: func(ctx context.Context, _ int, _ []stream.Rendition) ([]ports.Rendition, error) {
		close(entered)
		<-ctx.Done() // a slow plugin start
		return nil, ctx.Err()
	}}
	h := newHarness(t, withABR(tc, testLadder))
	pub, _ := h.start(t, key("s1"))
	waitClosed(t, "Transcode called", entered)
	done := make(chan struct{})
	go func() { pub.End(nil); close(done) }()
	waitClosed(t, "End returns while Transcode waits", done)
}

func TestRenditionClaimTakenElsewhere(t *testing.T) {
	tc := &fakeTranscoder{}
	h := newHarness(t, withABR(tc, testLadder))
	h.originClaim(key("s1_480p"), "node-b") // another origin has it
	h.start(t, key("s1"))
	// The rendition goes live before the source's list of renditions is
	// set: wait for both.
	eventually(t, "240p live and listed", func() bool {
		_, ok := h.e.LocalStream(key("s1_240p"))
		return ok && len(h.e.Renditions(key("s1"))) > 0
	})
	if _, ok := h.e.LocalStream(key("s1_480p")); ok {
		t.Fatal("a rendition claimed elsewhere was published here")
	}
	if got := h.e.Renditions(key("s1")); len(got) != 1 || got[0].Name != "240p" {
		t.Fatalf("Renditions = %+v", got)
	}
}

func TestDrainEndsRenditions(t *testing.T) {
	tc := &fakeTranscoder{}
	h := newHarness(t, withABR(tc, testLadder))
	stop := h.run(t)
	pub := h.publish(t, key("s1"))
	go func() {
		<-pub.Kicked()
		pub.End(nil)
	}()
	if _, err := pub.Start(avTracks); err != nil {
		t.Fatal(err)
	}
	eventually(t, "renditions live", func() bool { return len(h.e.Renditions(key("s1"))) == 2 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	for _, k := range []stream.Key{key("s1"), key("s1_480p"), key("s1_240p")} {
		if _, ok := h.store.claim(k); ok {
			t.Fatalf("%s still claimed after drain", k)
		}
	}
	if live := h.e.Live(); len(live) != 0 {
		t.Fatalf("Live after drain = %+v", live)
	}
}

func TestRenditionKeysOnEdge(t *testing.T) {
	p := &scriptedPuller{script: sessions()}
	h, viewers := edge(t, p, 0)
	k := key("s1")
	h.originClaim(k, "node-b")
	for _, id := range []string{"s1_240p", "s1_1080p", "s1_foo", "s1x_480p", "s1_p", "s1_480px"} {
		h.originClaim(key(id), "node-b")
	}
	h.originClaim(key("s1_720p"), "node-c") // not the origin's
	got, err := h.e.RenditionKeys(ctxT(t), k)
	if want := []stream.Key{key("s1_1080p"), key("s1_240p")}; err != nil || !slices.Equal(got, want) {
		t.Fatalf("RenditionKeys = %v, %v; want %v", got, err, want)
	}
	if got, err := h.e.RenditionKeys(ctxT(t), key("nobody")); err != nil || len(got) != 0 {
		t.Fatalf("RenditionKeys of an unknown stream = %v, %v", got, err)
	}
	// The family shares its viewers: a viewer of any keeps all pulled.
	viewers.Store(0)
	if n := h.e.familyViewers(key("s1_240p")); n != 0 {
		t.Fatalf("familyViewers = %d", n)
	}
	viewers.Store(1)
	if n := h.e.familyViewers(key("s1_240p")); n != 3 {
		t.Fatalf("familyViewers = %d, want 3 (the source and two renditions)", n)
	}
	if n := h.e.familyViewers(k); n != 3 {
		t.Fatalf("familyViewers of the source = %d, want 3", n)
	}
	h.store.setDown(true)
	if _, err := h.e.RenditionKeys(ctxT(t), k); !errors.Is(err, ports.ErrUnavailable) {
		t.Fatalf("RenditionKeys with the store down = %v", err)
	}
	h.store.setDown(false)
}

func TestRenditionHeight(t *testing.T) {
	tests := []struct {
		parent, id string
		want       int
		ok         bool
	}{
		{"s1", "s1_480p", 480, true},
		{"s1", "s1_0p", 0, false},
		{"s1", "s1_p", 0, false},
		{"s1", "s1_48a0p", 0, false},
		{"s1", "s1_480", 0, false},
		{"s1", "s2_480p", 0, false},
		{"s1", "s1_123456p", 0, false},
		{"a_b", "a_b_720p", 720, true},
	}
	for _, tt := range tests {
		got, ok := renditionHeight(stream.ID(tt.parent), stream.ID(tt.id))
		if got != tt.want || ok != tt.ok {
			t.Errorf("renditionHeight(%s, %s) = %d, %v; want %d, %v", tt.parent, tt.id, got, ok, tt.want, tt.ok)
		}
	}
}
