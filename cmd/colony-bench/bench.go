package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"sync"
	"time"
)

// bench runs steps against one target while its publisher (if any) keeps
// publishing between them.
type bench struct {
	targets   targets
	timing    timing
	serverPID int
	label     string
	log       *slog.Logger

	pub    *publisher
	pubErr chan error
	rtc    *rtcShared   // what the WebRTC viewers share
	gauges *gaugeReader // nil: no --server-metrics
}

// viewerRunner is one viewer of any kind.
type viewerRunner interface {
	Run(ctx context.Context) error
}

// startPublisher starts publishing clipPath (if an RTMP target is set) and
// returns a stop function that waits for it.
func (b *bench) startPublisher(ctx context.Context, clipPath string) (stop func(), err error) {
	if b.targets.RTMP == "" {
		return func() {}, nil
	}
	c, err := loadClip(clipPath)
	if err != nil {
		return nil, err
	}
	b.pub, err = newPublisher(b.targets.RTMP, c, b.log)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	b.pubErr = make(chan error, 1)
	var wg sync.WaitGroup
	wg.Go(func() { b.pubErr <- b.pub.Run(ctx) })
	return func() { cancel(); wg.Wait() }, nil
}

// publisherFailed returns the publisher's error if it has stopped.
func (b *bench) publisherFailed() error {
	if b.pubErr == nil {
		return nil
	}
	select {
	case err := <-b.pubErr:
		if err == nil {
			err = errors.New("publisher stopped")
		}
		b.pubErr <- err // keep it for the next caller
		return err
	default:
		return nil
	}
}

// run measures one step.
func (b *bench) run(ctx context.Context, st step) (result, error) {
	res := result{Label: b.label, Mode: st.Mode}
	res.ViewerGRO = b.rtc.gro && (st.Mode == modeWHEP || st.Mode == modeWS)
	u, err := b.targets.playURL(st.Mode)
	if err != nil {
		return res, err
	}
	res.URL = u
	if err := b.publisherFailed(); err != nil {
		return res, err
	}
	client := newHTTPClient(st.Viewers)
	defer client.CloseIdleConnections()
	if st.Mode == modeHLS || st.Mode == modeLLHLS {
		if err := waitPlayable(ctx, client, u, 30*time.Second); err != nil {
			return res, err
		}
	}

	var gaugesBefore map[string]float64
	if b.gauges != nil {
		if gaugesBefore, err = b.gauges.read(ctx); err != nil {
			return res, err
		}
	}

	win := &window{}
	var probe *segmentProbe
	if b.targets.probes(st.Mode) {
		probe = startSegmentProbe(ctx, b.targets.HLSRef, u)
		defer probe.stop()
	}
	vctx, stopViewers := context.WithCancel(ctx)
	defer stopViewers()
	var wg sync.WaitGroup
	var smu sync.Mutex // guards stats while churning viewers add theirs
	stats := make([]*viewerStats, 0, st.Viewers)
	ramp := b.timing.ramp(st.Viewers)
	for i := range st.Viewers {
		if i > 0 && !sleepCtx(ctx, ramp/time.Duration(st.Viewers)) {
			break
		}
		if st.Churn.on() {
			wg.Go(func() {
				b.churnSlot(vctx, st, i, func() (viewerRunner, *viewerStats) {
					s := newViewerStats(win, time.Now())
					smu.Lock()
					stats = append(stats, s)
					smu.Unlock()
					return b.newViewer(st.Mode, u, client, s), s
				})
			})
			continue
		}
		s := newViewerStats(win, time.Now())
		stats = append(stats, s)
		v := b.newViewer(st.Mode, u, client, s)
		wg.Go(func() {
			if err := v.Run(vctx); err != nil {
				s.fail(err)
			}
		})
	}
	b.log.Info("viewers started", "run", st.name())
	sleepCtx(ctx, b.timing.Warmup)

	mctx, stopMon := context.WithCancel(ctx)
	var mwg sync.WaitGroup
	self := &procMonitor{tree: procTree{root: "/proc", pid: os.Getpid()}, interval: 500 * time.Millisecond}
	mwg.Go(func() { self.Run(mctx) })
	var server *procMonitor
	if b.serverPID > 0 {
		server = &procMonitor{tree: procTree{root: "/proc", pid: b.serverPID, children: true}, interval: 500 * time.Millisecond}
		mwg.Go(func() { server.Run(mctx) })
	}
	var pubStart int64
	if b.pub != nil {
		pubStart = b.pub.stats.videoFrames.Load()
	}
	winStart := time.Now()
	win.begin(winStart)
	sleepCtx(ctx, b.timing.Duration)
	winEnd := time.Now()
	win.close(winEnd)
	stopMon()
	mwg.Wait()
	var gaugesEnd map[string]float64
	if b.gauges != nil {
		if gaugesEnd, err = b.gauges.read(ctx); err != nil {
			return res, err
		}
	}

	// Let retransmissions of the last packets land, then stop the viewers.
	sleepCtx(ctx, 300*time.Millisecond)
	stopViewers()
	if probe != nil {
		probe.stop()
		probe.fill(&res, win)
	}
	left := time.Now()
	if !waitTimeout(&wg, 20*time.Second) {
		b.log.Warn("viewers did not stop within 20 s", "run", st.name())
	}
	if b.gauges != nil {
		client.CloseIdleConnections() // as the viewers' browsers would, in time
		after, at, err := b.gauges.settled(ctx, gaugesBefore, left)
		if err != nil {
			return res, err
		}
		res.ServerGauges = make(map[string]gaugeReadings, len(after))
		for n, v := range after {
			res.ServerGauges[n] = gaugeReadings{Before: gaugesBefore[n], End: gaugesEnd[n], After: v, AfterS: round1(at.Seconds())}
		}
	}
	smu.Lock()
	defer smu.Unlock()
	for _, s := range stats {
		s.finish(winEnd)
	}
	aggregate(&res, stats, winStart, winEnd)
	if st.Churn.on() {
		res.churned(st)
	}
	res.Generator, err = self.Usage()
	if err != nil {
		return res, fmt.Errorf("own CPU: %w", err)
	}
	if server != nil {
		u, err := server.Usage()
		if err != nil {
			return res, fmt.Errorf("server pid %d: %w", b.serverPID, err)
		}
		res.Server = &u
	}
	if b.pub != nil {
		res.Publisher = &publisherResult{
			VideoFrames: b.pub.stats.videoFrames.Load() - pubStart,
			LateMaxMs:   round1(ms(time.Duration(b.pub.stats.lateMax.Load()))),
		}
		if err := b.publisherFailed(); err != nil {
			res.Publisher.Err = err.Error()
		}
	}
	return res, ctx.Err()
}

// churnSlot keeps one viewer playing until ctx ends: each leaves after a
// lifetime drawn from st.Churn, and next starts its successor at once (a
// moment later after a failure). A WHEP viewer leaving deletes its session
// every other time, and otherwise only closes its connection, as a closed
// browser tab may.
func (b *bench) churnSlot(ctx context.Context, st step, slot int, next func() (viewerRunner, *viewerStats)) {
	rng := rand.New(rand.NewPCG(uint64(slot), uint64(time.Now().UnixNano())))
	for n := 0; ctx.Err() == nil; n++ {
		v, s := next()
		if w, ok := v.(*whepViewer); ok {
			w.noDelete = n%2 == 1
		}
		life := st.Churn.lifetime(rng)
		sctx, cancel := context.WithTimeout(ctx, life)
		err := v.Run(sctx)
		cancel()
		s.leave(time.Now())
		if err == nil && ctx.Err() == nil && !s.hasFirstFrame() {
			err = fmt.Errorf("%w in its %v", errNoFrame, life.Round(time.Millisecond))
		}
		if err != nil {
			s.fail(err)
			sleepCtx(ctx, time.Second)
		}
	}
}

// errNoFrame: a churning viewer left without having played.
var errNoFrame = errors.New("no frame")

func (b *bench) newViewer(mode, u string, client *http.Client, s *viewerStats) viewerRunner {
	switch mode {
	case modeWHEP:
		return &whepViewer{url: u, client: client, stats: s, rtc: b.rtc}
	case modeWS:
		return &wsViewer{url: u, streamID: b.targets.streamID(), stats: s, rtc: b.rtc}
	default:
		return &hlsViewer{url: u, low: mode == modeLLHLS, client: client, stats: s}
	}
}

// waitPlayable polls an HLS URL until it answers 200.
func waitPlayable(ctx context.Context, c *http.Client, u string, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	var lastErr error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return err
		}
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = &statusError{Code: resp.StatusCode, URL: u}
		}
		lastErr = err
		if !sleepCtx(ctx, 250*time.Millisecond) {
			return fmt.Errorf("stream not playable within %s: %w", limit, lastErr)
		}
	}
}

// waitTimeout waits for wg, at most d; false if it timed out.
func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}
