package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/core/node"
	"github.com/colony-live/colony/core/origin"
	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
)

// Play implements ports.Playback: a stream live here is returned at once
// (after its publisher's tracks are known); on a node with a Puller, a stream
// published elsewhere in the cluster is pulled from its origin, once however
// many viewers ask.
func (e *Engine) Play(ctx context.Context, req ports.PlayRequest) (*media.Stream, error) {
	if !e.cfg.Self.Role.Serves() {
		return nil, fmt.Errorf("%w: node %s is an origin and serves no viewers", ports.ErrRoleRefused, e.cfg.Self.ID)
	}
	if !e.apps[req.Key.App] {
		return nil, fmt.Errorf("%w %q", ports.ErrUnknownApp, req.Key.App)
	}
	if err := e.deps.Auth.AuthorizePlay(ctx, req); err != nil {
		return nil, err
	}
	for {
		e.mu.Lock()
		en := e.live[req.Key]
		p := e.pulls[req.Key]
		e.mu.Unlock()
		if en != nil {
			select {
			case <-en.started:
				return en.s, nil
			case <-en.ended:
				return nil, fmt.Errorf("%w: %s", ports.ErrStreamNotFound, req.Key)
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		if e.deps.Puller == nil {
			return nil, fmt.Errorf("%w: %s", ports.ErrStreamNotFound, req.Key)
		}
		if p == nil {
			p = e.startPull(req.Key)
		}
		select {
		case <-p.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if p.err != nil {
			return nil, p.err
		}
		// The pull registered its stream in e.live: loop to pick it up.
	}
}

// pull is an edge's relay of one stream from its origin (or from a node of
// its group that carries it, see pull_carrier.go).
type pull struct {
	ready chan struct{} // closed once the first attempt succeeded (en set) or failed (err set)
	err   error

	// Guarded by e.mu: this node advertises itself as a carrier of the
	// stream, pulling it from the origin upstream; checkDup: the next
	// heartbeat looks for another carrier of the group to yield to (see
	// yieldToCarriers); yielded: the session was stopped to do so; stopRun
	// stops the current session.
	carrier  bool
	upstream node.ID
	checkDup bool
	yielded  bool
	stopRun  context.CancelFunc
	// avoided: carriers that failed this pull, until when (guarded by e.mu).
	avoided map[node.ID]time.Time
}

// startPull starts pulling key unless a pull is under way; e.mu must not be held.
func (e *Engine) startPull(key stream.Key) *pull {
	e.mu.Lock()
	defer e.mu.Unlock()
	if p, ok := e.pulls[key]; ok {
		return p
	}
	p := &pull{ready: make(chan struct{})}
	if e.stopping {
		p.err = fmt.Errorf("%w: node is shutting down", ports.ErrOverloaded)
		close(p.ready)
		return p
	}
	e.pulls[key] = p
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		e.runPull(key, p)
	}()
	return p
}

// openPull resolves the origin of key in the registry and opens a pull from
// it, or from a carrier of this node's group when the origin is in another
// group and carriers may be used (see source).
func (e *Engine) openPull(ctx context.Context, key stream.Key, p *pull, carriers bool) (ports.PullSession, source, error) {
	var claim origin.Claim
	err := e.timed(func() error {
		var err error
		claim, err = e.deps.Store.Origin(ctx, key)
		return err
	})
	src := source{origin: claim, from: claim}
	switch {
	case errors.Is(err, origin.ErrNoClaim):
		return nil, src, fmt.Errorf("%w: %s has no origin", ports.ErrStreamNotFound, key)
	case err != nil:
		return nil, src, fmt.Errorf("look up origin of %s: %w", key, err)
	case claim.Node == e.cfg.Self.ID:
		return nil, src, fmt.Errorf("%w: %s is claimed by this node but not live here", ports.ErrStreamNotFound, key)
	case claim.Stale(e.cfg.Now(), e.cfg.DeadAfter):
		return nil, src, fmt.Errorf("%w: origin %s of %s is not heartbeating", ports.ErrStreamNotFound, claim.Node, key)
	}
	src = e.source(ctx, key, claim, p, carriers)
	if src.viaCarrier() {
		sess, err := e.deps.Puller.Open(ctx, key, src.from)
		if err == nil {
			return sess, src, nil
		}
		// The carrier stopped or is unreachable: the origin itself, and
		// this carrier no more for a while.
		e.avoid(p, src.from.Node, e.cfg.Now().Add(e.cfg.DeadAfter))
		e.log.Info("cannot pull from the group's carrier: pulling from the origin", "stream", key.String(), "carrier", src.from.Node, "err", err)
		src = src.direct()
	}
	sess, err := e.deps.Puller.Open(ctx, key, claim)
	if errors.Is(err, ports.ErrStreamNotFound) {
		// Claimed but not started yet: the origin waits for the
		// publisher's sequence headers.
		return nil, src, fmt.Errorf("pull %s from %s: %w: %w", key, claim.Node, errOriginNotReady, err)
	}
	if err != nil {
		return nil, src, fmt.Errorf("pull %s from %s: %w", key, claim.Node, err)
	}
	return sess, src, nil
}

// runPull owns one pull: it opens it, publishes the local copy, re-pulls from
// the (possibly new) origin while viewers remain, and stops when idle.
func (e *Engine) runPull(key stream.Key, p *pull) {
	ctx, cancel := context.WithCancel(e.runCtx)
	defer cancel()
	log := e.log.With("stream", key.String(), "proto", "relay")

	openCtx, openCancel := context.WithTimeout(ctx, 10*time.Second)
	sess, src, err := e.openPull(openCtx, key, p, true)
	for errors.Is(err, errOriginNotReady) && sleepCtx(openCtx, 200*time.Millisecond) {
		sess, src, err = e.openPull(openCtx, key, p, true)
	}
	openCancel()
	if err != nil {
		e.mu.Lock()
		delete(e.pulls, key)
		e.mu.Unlock()
		p.err = err
		close(p.ready)
		log.Debug("pull refused", "err", err)
		return
	}
	tracks := sess.Tracks()
	s := media.NewStream(tracks, e.cfg.Stream)
	en := &entry{key: key, publishType: stream.PublishPull, pulled: true, started: make(chan struct{}), kick: make(chan struct{}), ended: make(chan struct{}), s: s}
	close(en.started)
	e.mu.Lock()
	if _, busy := e.live[key]; busy {
		// A publisher took the stream over here meanwhile: Play picks it up.
		delete(e.pulls, key)
		e.mu.Unlock()
		sess.Close()
		close(p.ready)
		log.Info("pull abandoned: the stream is published here now")
		return
	}
	e.live[key] = en
	e.mu.Unlock()
	e.attach(key, s)
	close(p.ready)
	log.Info("pull started", "origin", src.origin.Node, "from", src.from.Node, "addr", src.from.RelayAddr)
	e.carry(ctx, key, p, src)

	defer func() {
		e.stopCarrying(key, p)
		e.mu.Lock()
		if e.live[key] == en {
			delete(e.live, key)
		}
		delete(e.pulls, key)
		e.forgetFamily(key)
		e.mu.Unlock()
		s.Close()
		close(en.ended)
		log.Info("pull ended")
	}()

	// The idle watcher cancels the pull once nobody has watched for PullIdleTimeout.
	idleDone := make(chan struct{})
	go func() {
		defer close(idleDone)
		e.watchIdle(ctx, cancel, key)
	}()
	defer func() { cancel(); <-idleDone }()

	var offset, lastDTS time.Duration
	var haveLast bool
	write := func(u *media.Unit) {
		u.PTS += offset
		u.DTS += offset
		lastDTS, haveLast = u.DTS, true
		s.Write(u)
	}
	for {
		runCtx, stopRun := context.WithCancel(ctx)
		e.mu.Lock()
		p.stopRun = stopRun
		e.mu.Unlock()
		err := sess.Run(runCtx, write)
		stopRun()
		if ctx.Err() != nil {
			return
		}
		e.mu.Lock()
		yielded := p.yielded
		p.yielded, p.stopRun = false, nil
		e.mu.Unlock()
		if yielded {
			log.Info("another node of the group carries the stream: pulling from it")
		} else {
			log.Info("pull interrupted; following the registry", "err", err)
		}
		// A carrier withdraws before it looks for a new source, so that no
		// node of its group picks it meanwhile, and falls back to the
		// origin itself: carriers pull only from origins (or, yielding,
		// from a carrier of lower id, which never yields back), so pulls
		// never form a loop.
		wasCarrier := e.stopCarrying(key, p)
		sess, src = e.reopen(ctx, key, p, tracks, !wasCarrier || yielded, log)
		if sess == nil {
			return
		}
		e.carry(ctx, key, p, src)
		// Keep the local timeline continuous across origins.
		if haveLast {
			offset = lastDTS + 40*time.Millisecond
		}
		haveLast = false
		first := true
		base := offset
		write = func(u *media.Unit) {
			if first {
				offset = base - u.DTS
				first = false
			}
			u.PTS += offset
			u.DTS += offset
			lastDTS, haveLast = u.DTS, true
			s.Write(u)
		}
	}
}

// reopen retries the pull of key for up to PullRetryFor, following the
// registry to a new origin (through a carrier of the group when carriers
// is set). It gives up (nil) when the tracks changed, when nobody watches,
// or when time runs out.
func (e *Engine) reopen(ctx context.Context, key stream.Key, p *pull, tracks []media.Track, carriers bool, log *slog.Logger) (ports.PullSession, source) {
	deadline := time.Now().Add(e.cfg.PullRetryFor)
	backoff := 250 * time.Millisecond
	for time.Now().Before(deadline) {
		if !sleepCtx(ctx, backoff) {
			return nil, source{}
		}
		backoff = min(backoff*2, 2*time.Second)
		octx, cancel := context.WithTimeout(ctx, 5*time.Second)
		sess, src, err := e.openPull(octx, key, p, carriers)
		cancel()
		if err != nil {
			continue
		}
		if !sameTracks(tracks, sess.Tracks()) {
			log.Info("origin's tracks changed: restarting the stream", "origin", src.origin.Node)
			sess.Close()
			return nil, source{}
		}
		log.Info("pull resumed", "origin", src.origin.Node, "from", src.from.Node, "addr", src.from.RelayAddr)
		return sess, src
	}
	return nil, source{}
}

func sameTracks(a, b []media.Track) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Codec != b[i].Codec || a[i].ClockRate != b[i].ClockRate {
			return false
		}
	}
	return true
}

// watchIdle cancels a pull that has had no viewers for PullIdleTimeout.
// The viewers of a stream's renditions count for the stream and all its
// renditions (see familyViewers), and so do the nodes of the group that
// pull it from this one (a carrier, see relayed).
func (e *Engine) watchIdle(ctx context.Context, cancel context.CancelFunc, key stream.Key) {
	every := min(time.Second, e.cfg.PullIdleTimeout/4)
	t := time.NewTicker(every)
	defer t.Stop()
	idleSince := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if e.familyViewers(key) > 0 || e.relayed(key) > 0 {
			idleSince = time.Now()
			continue
		}
		if time.Since(idleSince) >= e.cfg.PullIdleTimeout {
			e.log.Info("pull idle: stopping", "stream", key.String())
			cancel()
			return
		}
	}
}

// errOriginNotReady: the origin holds the claim but its stream has not started.
var errOriginNotReady = errors.New("origin has not started the stream yet")

// sleepCtx waits d unless ctx ends first; it reports whether d passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
