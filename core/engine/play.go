package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/colony-live/colony/core/media"
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

// pull is an edge's relay of one stream from its origin.
type pull struct {
	ready chan struct{} // closed once the first attempt succeeded (en set) or failed (err set)
	err   error
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

// openPull resolves the origin of key in the registry and opens a pull from it.
func (e *Engine) openPull(ctx context.Context, key stream.Key) (ports.PullSession, origin.Claim, error) {
	var claim origin.Claim
	err := e.timed(func() error {
		var err error
		claim, err = e.deps.Store.Origin(ctx, key)
		return err
	})
	switch {
	case errors.Is(err, origin.ErrNoClaim):
		return nil, claim, fmt.Errorf("%w: %s has no origin", ports.ErrStreamNotFound, key)
	case err != nil:
		return nil, claim, fmt.Errorf("look up origin of %s: %w", key, err)
	case claim.Node == e.cfg.Self.ID:
		return nil, claim, fmt.Errorf("%w: %s is claimed by this node but not live here", ports.ErrStreamNotFound, key)
	case claim.Stale(e.cfg.Now(), e.cfg.DeadAfter):
		return nil, claim, fmt.Errorf("%w: origin %s of %s is not heartbeating", ports.ErrStreamNotFound, claim.Node, key)
	}
	sess, err := e.deps.Puller.Open(ctx, key, claim)
	if errors.Is(err, ports.ErrStreamNotFound) {
		// Claimed but not started yet: the origin waits for the
		// publisher's sequence headers.
		return nil, claim, fmt.Errorf("pull %s from %s: %w: %w", key, claim.Node, errOriginNotReady, err)
	}
	if err != nil {
		return nil, claim, fmt.Errorf("pull %s from %s: %w", key, claim.Node, err)
	}
	return sess, claim, nil
}

// runPull owns one pull: it opens it, publishes the local copy, re-pulls from
// the (possibly new) origin while viewers remain, and stops when idle.
func (e *Engine) runPull(key stream.Key, p *pull) {
	ctx, cancel := context.WithCancel(e.runCtx)
	defer cancel()
	log := e.log.With("stream", key.String(), "proto", "relay")

	openCtx, openCancel := context.WithTimeout(ctx, 10*time.Second)
	sess, claim, err := e.openPull(openCtx, key)
	for errors.Is(err, errOriginNotReady) && sleepCtx(openCtx, 200*time.Millisecond) {
		sess, claim, err = e.openPull(openCtx, key)
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
	log.Info("pull started", "origin", claim.Node, "addr", claim.RelayAddr)

	defer func() {
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
		err := sess.Run(ctx, write)
		if ctx.Err() != nil {
			return
		}
		log.Info("pull interrupted; following the registry", "err", err)
		sess = e.reopen(ctx, key, tracks, log)
		if sess == nil {
			return
		}
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
// registry to a new origin. It gives up (nil) when the tracks changed, when
// nobody watches, or when time runs out.
func (e *Engine) reopen(ctx context.Context, key stream.Key, tracks []media.Track, log *slog.Logger) ports.PullSession {
	deadline := time.Now().Add(e.cfg.PullRetryFor)
	backoff := 250 * time.Millisecond
	for time.Now().Before(deadline) {
		if !sleepCtx(ctx, backoff) {
			return nil
		}
		backoff = min(backoff*2, 2*time.Second)
		octx, cancel := context.WithTimeout(ctx, 5*time.Second)
		sess, claim, err := e.openPull(octx, key)
		cancel()
		if err != nil {
			continue
		}
		if !sameTracks(tracks, sess.Tracks()) {
			log.Info("origin's tracks changed: restarting the stream", "origin", claim.Node)
			sess.Close()
			return nil
		}
		log.Info("pull resumed", "origin", claim.Node, "addr", claim.RelayAddr)
		return sess
	}
	return nil
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
// renditions (see familyViewers).
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
		if e.familyViewers(key) > 0 {
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
