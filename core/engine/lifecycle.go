package engine

import (
	"context"
	"errors"
	"time"

	"github.com/colony-live/colony/core/node"
	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
)

// Run registers the node, heartbeats every HeartbeatEvery (its load and its
// viewers per stream; renewing its origin claims, publishing viewer counts,
// sweeping dead nodes' streams and purging long-dead nodes) until ctx is
// cancelled, then drains: publishers are kicked, pulls stopped, claims
// released and the node deregistered. It returns after every goroutine the
// engine started has ended.
func (e *Engine) Run(ctx context.Context) error {
	defer e.drain()
	registered := e.register(ctx)
	t := time.NewTicker(e.cfg.HeartbeatEvery)
	defer t.Stop()
	for {
		if registered {
			e.beat(ctx)
		} else {
			registered = e.register(ctx)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// register records this node; a store that is down is retried at the next beat.
func (e *Engine) register(ctx context.Context) bool {
	n := e.cfg.Self
	now := e.cfg.Now()
	n.StartedAt, n.LastSeen = now, now
	n.Load = e.sampleLoad()
	if err := e.timed(func() error { return e.deps.Store.Register(ctx, n) }); err != nil {
		e.log.Warn("cannot register node; will retry", "node", n.ID, "err", err)
		return false
	}
	e.log.Info("node registered", "role", n.Role, "group", n.Group, "internal", n.InternalAddr, "public", n.PublicAddr)
	return true
}

func (e *Engine) sampleLoad() node.Load {
	var l node.Load
	if e.deps.Load != nil {
		l.CPUPercent, l.MemoryBytes, l.MemoryTotal = e.deps.Load.Sample()
	}
	e.mu.Lock()
	keys := make([]stream.Key, 0, len(e.live))
	for k := range e.live {
		keys = append(keys, k)
	}
	e.mu.Unlock()
	l.Streams = len(keys)
	per := make([]node.StreamViewers, 0, len(keys))
	for _, k := range keys {
		n, by := e.viewers(k)
		l.Viewers += n
		per = append(per, node.StreamViewers{Stream: k, HLS: by["hls"], WebRTC: by["webrtc"], RTMP: by["rtmp"]})
	}
	// Each node's viewers per stream ride on its heartbeat, so that one
	// registry read sums a stream's viewers over the cluster (see
	// node.ClusterViewers); the sums lag by up to one heartbeat period.
	l.StreamViewers = node.ReportedViewers(per, node.MaxStreamViewers)
	l.DBQueryAvgMs = float64(e.dbAverage()) / float64(time.Millisecond)
	return l
}

// beat is one heartbeat.
func (e *Engine) beat(ctx context.Context) {
	now := e.cfg.Now()
	load := e.sampleLoad()
	err := e.timed(func() error { return e.deps.Store.Heartbeat(ctx, e.cfg.Self.ID, load, now) })
	if errors.Is(err, ports.ErrNotFound) {
		e.log.Warn("node was missing from the registry: registering again")
		e.register(ctx)
	} else if err != nil {
		e.log.Warn("heartbeat failed", "err", err)
		return
	}
	if n, err := e.deps.Store.RenewClaims(ctx, e.cfg.Self.ID, now); err != nil {
		e.log.Warn("cannot renew origin claims", "err", err)
	} else if n != e.publishedHere() {
		e.reconcileClaims(ctx)
	}
	e.renewCarriers(ctx, now)
	e.publishViewers(ctx, now)
	e.sweep(ctx, now)
	if n, err := e.deps.Store.PurgeNodes(ctx, now.Add(-e.cfg.PurgeAfter)); err != nil {
		e.log.Warn("cannot purge dead nodes", "err", err)
	} else if n > 0 {
		e.log.Info("purged dead nodes", "count", n)
	}
}

// publishedHere counts the streams published (not pulled) here.
func (e *Engine) publishedHere() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, en := range e.live {
		if !en.pulled {
			n++
		}
	}
	return n
}

// reconcileClaims makes this node's claims match its publishers. A claim
// on a stream not published here (left by a crash before a restart, or by an
// End whose release failed) is released: heartbeats would otherwise renew it
// forever and refuse the stream to every other origin. A publisher whose
// claim is gone (taken over after a partition made this node look dead) is
// kicked, so that two origins never keep publishing one stream. claimMu keeps
// a Publish from claiming while this runs.
func (e *Engine) reconcileClaims(ctx context.Context) {
	e.claimMu.Lock()
	defer e.claimMu.Unlock()
	claims, err := e.deps.Store.Claims(ctx, e.cfg.Self.ID)
	if err != nil {
		return
	}
	held := make(map[stream.Key]bool, len(claims))
	for _, c := range claims {
		held[c.Stream] = true
		e.mu.Lock()
		en, here := e.live[c.Stream]
		e.mu.Unlock()
		if !here || en.pulled {
			if err := e.deps.Store.Release(ctx, c.Stream, e.cfg.Self.ID); err == nil {
				e.log.Warn("released a leftover origin claim", "stream", c.Stream.String())
			}
		}
	}
	e.mu.Lock()
	var lost []*entry
	for k, en := range e.live {
		if !en.pulled && en.s != nil && !held[k] {
			lost = append(lost, en)
		}
	}
	e.mu.Unlock()
	for _, en := range lost {
		e.log.Warn("origin claim lost to another node: disconnecting the publisher", "stream", en.key.String())
		en.kickOut()
	}
}

// publishViewers writes the viewer counts of streams published here into
// their broadcast records (once per heartbeat: the store stays off the
// per-viewer path).
func (e *Engine) publishViewers(ctx context.Context, now time.Time) {
	for _, ls := range e.Live() {
		if ls.Pulled || ls.Rendition {
			continue
		}
		_, per := e.viewers(ls.Key)
		_, err := e.deps.Store.UpdateBroadcast(ctx, ls.Key, false, now, func(b *stream.Broadcast) error {
			if b.HLSViewers == per["hls"] && b.WebRTCViewers == per["webrtc"] && b.RTMPViewers == per["rtmp"] {
				return errNoChange
			}
			b.HLSViewers, b.WebRTCViewers, b.RTMPViewers = per["hls"], per["webrtc"], per["rtmp"]
			b.UpdatedAt = now
			return nil
		})
		if err != nil && !errors.Is(err, errNoChange) {
			e.log.Debug("cannot record viewers", "stream", ls.Key.String(), "err", err)
		}
	}
}

// sweep marks broadcasts whose origin is dead (or is this node, restarted
// after a crash) as terminated_unexpectedly, so none stays "broadcasting".
func (e *Engine) sweep(ctx context.Context, now time.Time) {
	live, err := e.deps.Store.LiveBroadcasts(ctx)
	if err != nil || len(live) == 0 {
		return
	}
	nodes, err := e.deps.Store.Nodes(ctx)
	if err != nil {
		return
	}
	alive := make(map[string]bool, len(nodes))
	for _, n := range nodes {
		alive[string(n.ID)] = n.Alive(now, e.cfg.DeadAfter)
	}
	for _, b := range live {
		owner := b.OriginNode
		if owner == string(e.cfg.Self.ID) {
			e.mu.Lock()
			_, here := e.live[b.Key]
			ending := e.ending[b.Key] > 0
			e.mu.Unlock()
			if here || ending {
				continue
			}
		} else if alive[owner] {
			continue
		}
		_, err := e.deps.Store.UpdateBroadcast(ctx, b.Key, false, now, func(cur *stream.Broadcast) error {
			if !cur.Live() || cur.OriginNode != owner || cur.StartTime.After(b.StartTime) {
				return errNoChange
			}
			return cur.Transition(stream.StatusTerminatedUnexpectedly, now)
		})
		if err == nil {
			e.log.Warn("origin is gone: broadcast terminated unexpectedly", "stream", b.Key.String(), "origin", owner)
		}
	}
}

// drain ends the node's work at shutdown.
func (e *Engine) drain() {
	e.mu.Lock()
	e.stopping = true
	var ended []chan struct{}
	for _, en := range e.live {
		if !en.pulled {
			en.kickOut()
			ended = append(ended, en.ended)
		}
	}
	e.mu.Unlock()
	e.runStop() // stops pulls
	deadline := time.After(e.cfg.DrainTimeout)
wait:
	for _, c := range ended {
		select {
		case <-c:
		case <-deadline:
			e.log.Warn("publishers did not end in time")
			break wait
		}
	}
	e.wg.Wait()
	ctx, cancel := storeCtx()
	defer cancel()
	if claims, err := e.deps.Store.Claims(ctx, e.cfg.Self.ID); err == nil {
		for _, c := range claims {
			_ = e.deps.Store.Release(ctx, c.Stream, e.cfg.Self.ID)
		}
	}
	if err := e.deps.Store.Deregister(ctx, e.cfg.Self.ID); err != nil {
		e.log.Warn("cannot deregister node", "err", err)
	} else {
		e.log.Info("node deregistered")
	}
}
