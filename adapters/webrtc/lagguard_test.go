package webrtc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/internal/syncbuf"
	"github.com/colony-live/colony/ports"
)

func TestSendLagObserve(t *testing.T) {
	t0 := time.Unix(1000, 0)
	l := sendLag{shared: &lagFloor{}}
	if _, ok := l.take(); ok {
		t.Fatal("a lag before any frame")
	}
	l.observe(time.Time{}, t0) // no ingest time: not measured
	if _, ok := l.take(); ok {
		t.Fatal("a frame without ingest time was measured")
	}
	// A constant 300 ms offset (relay transit, clock difference) is the floor.
	steps := []struct {
		sent, late time.Duration // the frame's send time from t0, its raw lag
		want       time.Duration // worst lag of the period, floor removed
	}{
		{0, 300 * time.Millisecond, 0},
		{time.Second, 350 * time.Millisecond, 50 * time.Millisecond},
		{2 * time.Second, 280 * time.Millisecond, 0}, // a lower floor
		{3 * time.Second, 900 * time.Millisecond, 620 * time.Millisecond},
	}
	for i, st := range steps {
		sent := t0.Add(st.sent)
		l.observe(sent.Add(-st.late), sent)
		got, ok := l.take()
		if !ok || got != st.want {
			t.Fatalf("step %d: lag %v %v, want %v", i, got, ok, st.want)
		}
	}
	// The worst frame of the period counts.
	for _, late := range []time.Duration{400, 700, 500} {
		now := t0.Add(5 * time.Second)
		l.observe(now.Add(-late*time.Millisecond), now)
	}
	if got, _ := l.take(); got != 420*time.Millisecond {
		t.Fatalf("worst of the period %v, want 420ms", got)
	}
	// An origin clock ahead of this node's: negative raw lags.
	ahead := sendLag{shared: &lagFloor{}}
	ahead.observe(t0.Add(time.Second), t0)
	ahead.observe(t0.Add(900*time.Millisecond), t0)
	if got, _ := ahead.take(); got != 100*time.Millisecond {
		t.Fatalf("lag with the origin's clock ahead %v, want 100ms", got)
	}
}

// Viewers of one source share its floor: a crowd that joins while the
// node already lags reports that lag instead of taking it as its floor.
func TestSendLagSharedFloor(t *testing.T) {
	t0 := time.Unix(1000, 0)
	var floor lagFloor
	early := sendLag{shared: &floor}
	early.observe(t0.Add(-5*time.Millisecond), t0) // served promptly
	late := sendLag{shared: &floor}
	late.observe(t0.Add(95*time.Millisecond), t0.Add(time.Second)) // joined when frames left 905 ms late
	if got, _ := late.take(); got != 900*time.Millisecond {
		t.Fatalf("a viewer joining a lagging node reports %v, want 900ms", got)
	}
	if got, _ := early.take(); got != 0 {
		t.Fatalf("the prompt viewer reports %v", got)
	}
	// A floor of its own would have hidden it.
	alone := sendLag{shared: &lagFloor{}}
	alone.observe(t0.Add(95*time.Millisecond), t0.Add(time.Second))
	if got, _ := alone.take(); got != 0 {
		t.Fatalf("own floor: %v", got)
	}
	// Without a floor (no video source) nothing is measured.
	var none sendLag
	none.observe(t0, t0.Add(time.Second))
	if _, ok := none.take(); ok {
		t.Fatal("measured without a source's floor")
	}
}

func TestSendLagAllocs(t *testing.T) {
	l := sendLag{shared: &lagFloor{}}
	in := time.Now()
	if n := testing.AllocsPerRun(100, func() { l.observe(in, time.Now()) }); n != 0 {
		t.Fatalf("%v allocations per frame", n)
	}
}

func TestServerLag(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var d []time.Duration
		for _, x := range v {
			d = append(d, time.Duration(x)*time.Millisecond)
		}
		return d
	}
	tests := []struct {
		name string
		lags []time.Duration
		want time.Duration
	}{
		{"no viewer", nil, 0},
		{"one viewer alone does not count", ms(5000), 0},
		{"two viewers: the better", ms(5000, 300), 300 * time.Millisecond},
		{"one slow viewer among ten", ms(5000, 10, 12, 9, 11, 10, 13, 10, 10, 8), 13 * time.Millisecond},
		{"two slow viewers among ten", ms(5000, 10, 12, 9, 11, 4000, 13, 10, 10, 8), 4000 * time.Millisecond},
		{"twenty: the 18th", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20), 18 * time.Millisecond},
		{"all late", ms(900, 1000, 1100), 1000 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := serverLag(tt.lags); got != tt.want {
				t.Fatalf("serverLag = %v, want %v", got, tt.want)
			}
		})
	}
}

// newLagServer is a server without the guard's ticker: the test sets the
// limit and drives checkLag with its own clock.
func newLagServer(t *testing.T, limit time.Duration, log *slog.Logger, play ports.Playback) (*Server, *httptest.Server) {
	t.Helper()
	if play == nil {
		play = fakePlayback{play: noPlay}
	}
	s, hs := newTestServer(t, Config{LagLimit: -1, CPULimit: -1, Logger: log}, fakeIngest{publish: noPublish}, play)
	s.cfg.LagLimit = limit
	return s, hs
}

// addFakeViewers registers n viewers without a connection, whose lags
// the test sets; the first joined first.
func addFakeViewers(t *testing.T, s *Server, n int) []*player {
	t.Helper()
	var pls []*player
	for i := range n {
		p := &peer{srv: s, id: fmt.Sprintf("fake%d", i), key: testKey, viewer: true, log: testLogger()}
		p.ctx, p.cancel = context.WithCancelCause(context.Background())
		pl := &player{peer: p}
		p.play = pl
		s.mu.Lock()
		s.seq++
		p.seq = s.seq
		s.sessions[p.id] = p
		s.nViewers++
		s.viewers[p.key]++
		s.mu.Unlock()
		t.Cleanup(func() {
			p.cancel(nil)
			s.unregister(p)
		})
		pls = append(pls, pl)
	}
	return pls
}

// setLag makes d the viewer's worst lag of the period.
func setLag(pl *player, d time.Duration) { pl.lag.worst.Store(int64(d) + 1) }

// A slow viewer alone is not shed; server-wide lag sheds the newest of
// the viewers far behind for shedAfter, a tenth at a time, until it recovers.
func TestLagShedding(t *testing.T) {
	const limit = 200 * time.Millisecond
	ms := time.Millisecond
	tests := []struct {
		name  string
		n     int
		ticks int
		// lag of viewer i (join order) at a tick; false: no frame sent
		lag        func(tick, i int) (time.Duration, bool)
		wantShed   []int // viewers shed, by join order, sorted
		wantFigure time.Duration
		// fanLag, if set, is how far behind the viewers' fan-out is at a
		// tick (0: between units)
		fanLag func(tick int) time.Duration
	}{
		{"one slow viewer among ten", 10, 10, func(_, i int) (time.Duration, bool) {
			if i == 3 {
				return 5 * time.Second, true
			}
			return 10 * ms, true
		}, nil, 10 * ms, nil},
		{"one viewer alone, slow", 1, 10, func(int, int) (time.Duration, bool) { return 5 * time.Second, true }, nil, 0, nil},
		{"server-wide lag shorter than shedAfter", 20, 10, func(tick, _ int) (time.Duration, bool) {
			if tick < 2 {
				return 2 * time.Second, true
			}
			return 10 * ms, true
		}, nil, 10 * ms, nil},
		{"server-wide lag past the limit: a tenth every shedAfter", 20, 10, func(int, int) (time.Duration, bool) { return 300 * ms, true },
			[]int{15, 16, 17, 18, 19}, 300 * ms, nil}, // ticks 2 (2 of 20), 4, 6, 8 (1 each)
		{"server-wide lag at the limit", 20, 10, func(int, int) (time.Duration, bool) { return limit, true }, nil, limit, nil},
		{"server-wide lag past the limit, only the newest behind", 20, 10, func(_, i int) (time.Duration, bool) {
			if i >= 15 {
				return 2 * time.Second, true
			}
			return 10 * ms, true
		}, []int{16, 17, 18, 19}, 10 * ms, nil}, // shed until one is left behind: the figure is never the worst alone
		{"viewers sending nothing", 20, 10, func(int, int) (time.Duration, bool) { return 0, false }, nil, 0, nil},
		{"sustained server-wide lag until it recovers", 20, 10, func(tick, _ int) (time.Duration, bool) {
			if tick < 5 {
				return 2 * time.Second, true
			}
			return 50 * ms, true
		}, []int{17, 18, 19}, 50 * ms, nil}, // 2 (a tenth of 20) then, 2 s later, 1 (of 18)
		{"viewers sent nothing while their fan-out is behind", 20, 10, func(int, int) (time.Duration, bool) { return 0, false },
			[]int{15, 16, 17, 18, 19}, 2 * time.Second, func(int) time.Duration { return 2 * time.Second }},
		{"viewers sent nothing while their fan-out waits for a unit", 20, 10, func(int, int) (time.Duration, bool) { return 0, false },
			nil, 0, func(int) time.Duration { return 0 }},
		{"a viewer's own lag worse than its fan-out's", 20, 10, func(int, int) (time.Duration, bool) { return 300 * ms, true },
			[]int{15, 16, 17, 18, 19}, 300 * ms, func(int) time.Duration { return 5 * ms }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs syncbuf.Buffer
			s, _ := newLagServer(t, limit, slog.New(slog.NewTextHandler(&logs, nil)), nil)
			pls := addFakeViewers(t, s, tt.n)
			t0 := time.Unix(1000, 0)
			fan := &liveFanout{}
			fan.floor.lower(0)
			if tt.fanLag != nil {
				for _, pl := range pls {
					pl.fan.Store(fan)
				}
			}
			var shed []int
			for tick := range tt.ticks {
				for i, pl := range pls {
					if d, ok := tt.lag(tick, i); ok && pl.ctx.Err() == nil {
						setLag(pl, d)
					}
				}
				now := t0.Add(time.Duration(tick) * time.Second)
				if tt.fanLag != nil {
					fan.delivering.Store(0)
					if d := tt.fanLag(tick); d > 0 {
						fan.delivering.Store(now.Add(-d).UnixNano())
					}
				}
				s.checkLag(now)
				for i, pl := range pls {
					if pl.ctx.Err() != nil && !slices.Contains(shed, i) {
						if !errors.Is(context.Cause(pl.ctx), errShed) {
							t.Fatalf("viewer %d ended by %v", i, context.Cause(pl.ctx))
						}
						shed = append(shed, i)
						s.unregister(pl.peer) // as its teardown does
					}
				}
			}
			slices.Sort(shed)
			if !slices.Equal(shed, tt.wantShed) {
				t.Fatalf("shed %v, want %v", shed, tt.wantShed)
			}
			st := s.Stats()
			if st.SendLag != tt.wantFigure || st.Shed != uint64(len(tt.wantShed)) || st.Viewers != tt.n-len(tt.wantShed) {
				t.Fatalf("Stats %+v, want lag %v, %d shed", st, tt.wantFigure, len(tt.wantShed))
			}
			if warned := strings.Contains(logs.String(), "level=WARN msg=\"shedding WebRTC viewers"); warned != (len(tt.wantShed) > 0) {
				t.Fatalf("shedding warning logged: %v; logs:\n%s", warned, logs.String())
			}
		})
	}
}

// The first round of TestLagShedding's sustained lag: 2 shed of 20, at
// the newest, with the counts in the warning.
func TestLagSheddingLog(t *testing.T) {
	var logs syncbuf.Buffer
	s, _ := newLagServer(t, 200*time.Millisecond, slog.New(slog.NewTextHandler(&logs, nil)), nil)
	pls := addFakeViewers(t, s, 20)
	t0 := time.Unix(1000, 0)
	for tick := range 3 {
		for _, pl := range pls {
			setLag(pl, time.Second)
		}
		s.checkLag(t0.Add(time.Duration(tick) * time.Second))
	}
	out := logs.String()
	for _, want := range []string{"shed=2", "candidates=20", "viewers=20", "lag=1s", "limit=200ms", "shed_total=2"} {
		if !strings.Contains(out, want) {
			t.Fatalf("warning lacks %q: %s", want, out)
		}
	}
}

// Past the lag limit, WHEP answers 503 and the WebSocket
// highResourceUsage, with the lag; back under it, viewers are admitted.
func TestLagLimitRefusesViewers(t *testing.T) {
	st := media.NewStream([]media.Track{{Codec: media.H264, ClockRate: 90000}}, media.StreamConfig{})
	defer st.Close()
	play := fakePlayback{play: func(context.Context, ports.PlayRequest) (*media.Stream, error) { return st, nil }}
	offer := clientOffer(t, false)
	tests := []struct {
		name     string
		limit    time.Duration
		lag      time.Duration
		refused  bool
		wantBody string
	}{
		{"past the limit", 200 * time.Millisecond, 650 * time.Millisecond, true, "frames 650ms late, past the limit of 200ms"},
		{"under the limit", 200 * time.Millisecond, 150 * time.Millisecond, false, ""},
		{"disabled", -1, 5 * time.Second, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, hs := newLagServer(t, tt.limit, nil, play)
			pls := addFakeViewers(t, s, 3)
			for _, pl := range pls {
				setLag(pl, tt.lag)
			}
			s.checkLag(time.Unix(1000, 0))
			resp, body := postSDP(t, hs.URL+"/LiveApp/whep/cam1", offer)
			if !tt.refused {
				if resp.StatusCode != http.StatusCreated {
					t.Fatalf("WHEP at %v lag: %d %s, want 201", tt.lag, resp.StatusCode, body)
				}
				return
			}
			if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, tt.wantBody) {
				t.Fatalf("WHEP at %v lag: %d %q, want 503 with Retry-After and %q", tt.lag, resp.StatusCode, body, tt.wantBody)
			}
			w := dialWS(t, hs, "LiveApp")
			w.send(wsMsg{"command": "play", "streamId": "cam1"})
			if m := w.await("error", defHighResourceUsage); !strings.Contains(m.str("message"), tt.wantBody) {
				t.Fatalf("WebSocket refusal %v, want %q", m, tt.wantBody)
			}
			if got := s.Stats().RefusedByLag; got != 2 {
				t.Fatalf("RefusedByLag = %d, want 2", got)
			}
			// The lag recovers: admitted again.
			for _, pl := range pls {
				setLag(pl, 20*time.Millisecond)
			}
			s.checkLag(time.Unix(1001, 0))
			if resp, body := postSDP(t, hs.URL+"/LiveApp/whep/cam1", offer); resp.StatusCode != http.StatusCreated {
				t.Fatalf("WHEP after recovery: %d %s", resp.StatusCode, body)
			}
		})
	}
}

func TestLagLimitDefault(t *testing.T) {
	if got := (Config{}).withDefaults().LagLimit; got != 200*time.Millisecond {
		t.Fatalf("default LagLimit %v", got)
	}
	if got := (Config{LagLimit: -1}).withDefaults().LagLimit; got != -1 {
		t.Fatalf("LagLimit -1 became %v", got)
	}
}

// A player's send of a live video frame measures its lag, allocating
// nothing (a frame another viewer has packetized).
func TestPlayerSendMeasuresLag(t *testing.T) {
	w := &nopRTP{}
	pl := &player{peer: &peer{log: testLogger()}, videoIdx: 0, audioIdx: -1,
		video: &outTrack{clock: 90000, out: rtpOut{w: w, video: true}},
		base:  &videoSource{frames: newFrameCache(media.Track{Codec: media.H264, SPS: testSPS, PPS: testPPS})}}
	pl.vs.active = pl.base
	pl.lag.shared = &pl.base.frames.lagFloor // as newPlayer does
	u := bigIDR()
	u.Ingest = time.Now().Add(-10 * time.Millisecond)
	pl.send(u, 0)
	if w.n == 0 {
		t.Fatal("nothing sent")
	}
	if got, ok := pl.lag.take(); !ok || got != 0 {
		t.Fatalf("first frame lag %v %v, want 0 (the floor)", got, ok)
	}
	late := bigIDR()
	late.Ingest = time.Now().Add(-510 * time.Millisecond)
	pl.send(late, 0)
	if got, ok := pl.lag.take(); !ok || got < 490*time.Millisecond || got > 5*time.Second {
		t.Fatalf("late frame lag %v %v, want about 500ms", got, ok)
	}
	if n := testing.AllocsPerRun(100, func() { pl.send(late, 0) }); n != 0 {
		t.Fatalf("%v allocations per frame sent", n)
	}
}

// TestFanoutLagRefusesAtOnce: a stream whose fan-out is delivering a unit
// past the limit refuses new viewers at once, before the viewers' figure
// (taken once a second) shows the lag; a fan-out between units, a fan-out
// of another stream, or a unit within the limit does not.
func TestFanoutLagRefusesAtOnce(t *testing.T) {
	st := media.NewStream([]media.Track{{Codec: media.H264, ClockRate: 90000}}, media.StreamConfig{})
	defer st.Close()
	play := fakePlayback{play: func(context.Context, ports.PlayRequest) (*media.Stream, error) { return st, nil }}
	offer := clientOffer(t, false)
	other := testKey
	other.ID = "other"
	tests := []struct {
		name    string
		key     stream.Key
		age     time.Duration // of the unit being delivered; 0: between units
		refused bool
	}{
		{"behind", testKey, 650 * time.Millisecond, true},
		{"within the limit", testKey, 150 * time.Millisecond, false},
		{"between units", testKey, 0, false},
		{"another stream behind", other, 650 * time.Millisecond, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, hs := newLagServer(t, 200*time.Millisecond, nil, play)
			// A fan-out of the test's own, under a stream of its own: the
			// viewer's join starts the stream's real one.
			f := &liveFanout{key: tt.key}
			if tt.age > 0 {
				f.delivering.Store(time.Now().Add(-tt.age).UnixNano())
			}
			dummy := media.NewStream([]media.Track{{Codec: media.H264, ClockRate: 90000}}, media.StreamConfig{})
			defer dummy.Close()
			s.mu.Lock()
			s.fanouts[dummy] = f
			s.mu.Unlock()
			defer func() {
				s.mu.Lock()
				delete(s.fanouts, dummy)
				s.mu.Unlock()
			}()
			resp, body := postSDP(t, hs.URL+"/LiveApp/whep/cam1", offer)
			if !tt.refused {
				if resp.StatusCode != http.StatusCreated {
					t.Fatalf("WHEP: %d %s, want 201", resp.StatusCode, body)
				}
				return
			}
			if resp.StatusCode != http.StatusServiceUnavailable || !regexp.MustCompile(`frames leave 6[0-9]{2}ms late, past the limit of 200ms`).MatchString(body) {
				t.Fatalf("WHEP: %d %q, want 503 naming the fan-out's lag", resp.StatusCode, body)
			}
			if got := s.Stats().RefusedByLag; got != 1 {
				t.Fatalf("RefusedByLag = %d, want 1", got)
			}
		})
	}
}
