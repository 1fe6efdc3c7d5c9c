package engine

import (
	"context"
	"time"

	"github.com/colony-live/colony/core/node"
	"github.com/colony-live/colony/core/origin"
	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
)

// Tiered relay by node group. A stream has one origin. An edge whose group
// is the origin's pulls from the origin. An edge of another group first
// looks for a live node of its own group that carries the stream (pulls it
// straight from the origin and advertises so in the registry, see
// ports.StreamRelays) and pulls from it; with none, it pulls from the
// origin itself and becomes its group's carrier. So the origin serves one
// relay per group rather than one per edge. Carriers only ever pull from
// origins and withdraw before they look for a new source, so pulls never
// loop; a carrier whose upstream breaks falls back to the origin. Two edges
// of a group that start pulling a stream at the same moment may both
// become carriers: at the next heartbeat the one of higher node id yields
// (pulls from the other instead).

// source is where a pull reads a stream from.
type source struct {
	origin origin.Claim // the stream's origin
	from   origin.Claim // whom the pull reads: the origin, or a carrier of this node's group
	// foreign: the origin is in another node group than this node.
	foreign bool
}

func (s source) viaCarrier() bool { return s.from.Node != s.origin.Node }

// advertise reports whether this node carries the stream for its group:
// it pulls straight from an origin of another group.
func (s source) advertise() bool { return s.foreign && !s.viaCarrier() }

// direct returns s reading from the origin itself.
func (s source) direct() source {
	s.from = s.origin
	return s
}

// source picks where to pull key from, given its origin claim. Without the
// registry's answer (an error) it pulls from the origin and does not
// advertise: the stream plays, only the group's saving is lost.
func (e *Engine) source(ctx context.Context, key stream.Key, claim origin.Claim, p *pull, useCarriers bool) source {
	src := source{origin: claim, from: claim}
	var nodes []node.Node
	if err := e.timed(func() error {
		var err error
		nodes, err = e.deps.Store.Nodes(ctx)
		return err
	}); err != nil {
		return src
	}
	now := e.cfg.Now()
	alive := make(map[node.ID]bool, len(nodes))
	originGroup, known := "", false
	for _, n := range nodes {
		alive[n.ID] = n.Alive(now, e.cfg.DeadAfter)
		if n.ID == claim.Node {
			originGroup, known = groupOf(n), true
		}
	}
	if !known || originGroup == e.cfg.Self.Group {
		return src // an origin of our own group is always preferred
	}
	src.foreign = true
	if !useCarriers {
		return src
	}
	var carriers []ports.Carrier
	if err := e.timed(func() error {
		var err error
		carriers, err = e.deps.Store.Carriers(ctx, key, "")
		return err
	}); err != nil {
		return src
	}
	for _, c := range carriers {
		if c.Node == e.cfg.Self.ID || c.Group != e.cfg.Self.Group || c.Upstream != claim.Node ||
			c.RelayAddr == "" || !alive[c.Node] || c.Stale(now, e.cfg.DeadAfter) || e.avoids(p, c.Node, now) {
			continue
		}
		src.from = origin.Claim{Stream: key, Node: c.Node, RelayAddr: c.RelayAddr, ClaimedAt: claim.ClaimedAt, RenewedAt: c.RenewedAt}
		return src
	}
	return src
}

// groupOf is n's group, the default one when unset.
func groupOf(n node.Node) string {
	if n.Group == "" {
		return node.DefaultGroup
	}
	return n.Group
}

// carry records whether this node carries key for its group, following src.
func (e *Engine) carry(ctx context.Context, key stream.Key, p *pull, src source) {
	if !src.advertise() {
		e.stopCarrying(key, p)
		return
	}
	c := ports.Carrier{
		Stream: key, Node: e.cfg.Self.ID, Group: e.cfg.Self.Group, RelayAddr: e.cfg.Self.InternalAddr,
		Upstream: src.origin.Node, RenewedAt: e.cfg.Now(),
	}
	// Marked before the record is written: reconcileCarriers never removes
	// a record whose pull is marked.
	e.mu.Lock()
	p.carrier, p.upstream, p.checkDup = true, src.origin.Node, true
	e.mu.Unlock()
	if err := e.timed(func() error { return e.deps.Store.AddCarrier(ctx, c) }); err != nil {
		// The next heartbeat writes it (reconcileCarriers).
		e.log.Warn("cannot advertise as the group's carrier", "stream", key.String(), "err", err)
		return
	}
	e.log.Info("carrying the stream for the node group", "stream", key.String(), "group", c.Group, "origin", c.Upstream)
}

// stopCarrying withdraws this node's carrier record for key, if it had one,
// and reports whether it had.
func (e *Engine) stopCarrying(key stream.Key, p *pull) bool {
	e.mu.Lock()
	was := p.carrier
	p.carrier = false
	e.mu.Unlock()
	if !was {
		return false
	}
	ctx, cancel := storeCtx()
	defer cancel()
	if err := e.timed(func() error { return e.deps.Store.RemoveCarrier(ctx, key, e.cfg.Self.ID) }); err != nil {
		// Its heartbeat no longer renews it: it goes stale, and the next
		// heartbeat that reaches the store removes it.
		e.log.Warn("cannot withdraw the carrier record", "stream", key.String(), "err", err)
	}
	return true
}

// relayed counts the nodes pulling key from this one.
func (e *Engine) relayed(key stream.Key) int {
	if e.deps.Relays == nil {
		return 0
	}
	return e.deps.Relays.Viewers(key)
}

// carried returns the streams this node carries, with their upstream origins.
func (e *Engine) carried() map[stream.Key]node.ID {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := map[stream.Key]node.ID{}
	for k, p := range e.pulls {
		if p.carrier {
			out[k] = p.upstream
		}
	}
	return out
}

// renewCarriers is the heartbeat's part on a node that pulls: it renews
// this node's carrier records, makes them match its pulls when the count
// differs (a record left by a crash, or one the store missed), purges
// records stale for PurgeAfter, and lets a carrier that raced another yield
// (two store calls a beat, more only when something changed).
func (e *Engine) renewCarriers(ctx context.Context, now time.Time) {
	if e.deps.Puller == nil {
		return // a node that pulls nothing carries nothing (standalone, origins)
	}
	want := e.carried()
	n, err := e.deps.Store.RenewCarriers(ctx, e.cfg.Self.ID, now)
	if err != nil {
		e.log.Warn("cannot renew carrier records", "err", err)
		return
	}
	if n != len(want) {
		e.reconcileCarriers(ctx, now)
	}
	e.yieldToCarriers(ctx, now)
	if _, err := e.deps.Store.PurgeCarriers(ctx, now.Add(-e.cfg.PurgeAfter)); err != nil {
		e.log.Debug("cannot purge carrier records", "err", err)
	}
}

// reconcileCarriers removes this node's records of streams it does not
// carry and writes those it carries but the store lacks.
func (e *Engine) reconcileCarriers(ctx context.Context, now time.Time) {
	have, err := e.deps.Store.Carriers(ctx, stream.Key{}, e.cfg.Self.ID)
	if err != nil {
		return
	}
	recorded := make(map[stream.Key]node.ID, len(have))
	for _, c := range have {
		recorded[c.Stream] = c.Upstream
	}
	want := e.carried() // after the listing: a pull marks itself before it writes
	for _, c := range have {
		if up, ok := want[c.Stream]; !ok || up != c.Upstream {
			if err := e.deps.Store.RemoveCarrier(ctx, c.Stream, c.Node); err == nil {
				e.log.Info("removed a leftover carrier record", "stream", c.Stream.String())
			}
			delete(recorded, c.Stream)
		}
	}
	for k, up := range want {
		if _, ok := recorded[k]; ok {
			continue
		}
		c := ports.Carrier{Stream: k, Node: e.cfg.Self.ID, Group: e.cfg.Self.Group, RelayAddr: e.cfg.Self.InternalAddr, Upstream: up, RenewedAt: now}
		if err := e.deps.Store.AddCarrier(ctx, c); err != nil {
			e.log.Warn("cannot advertise as the group's carrier", "stream", k.String(), "err", err)
		}
	}
}

// yieldToCarriers runs once for each stream this node started carrying
// since the last heartbeat: when another live carrier of its group, of lower
// node id, pulls the stream from the same origin (two edges raced to carry
// it), this node stops its session; the pull then withdraws and re-pulls
// from that carrier. A carrier never yields to one of higher id, so two
// never yield to each other.
func (e *Engine) yieldToCarriers(ctx context.Context, now time.Time) {
	e.mu.Lock()
	var keys []stream.Key
	for k, p := range e.pulls {
		if p.carrier && p.checkDup {
			p.checkDup = false
			keys = append(keys, k)
		}
	}
	e.mu.Unlock()
	if len(keys) == 0 {
		return
	}
	nodes, err := e.deps.Store.Nodes(ctx)
	if err != nil {
		return
	}
	alive := make(map[node.ID]bool, len(nodes))
	for _, n := range nodes {
		alive[n.ID] = n.Alive(now, e.cfg.DeadAfter)
	}
	for _, k := range keys {
		carriers, err := e.deps.Store.Carriers(ctx, k, "")
		if err != nil {
			continue
		}
		e.mu.Lock()
		p := e.pulls[k]
		if p != nil && p.carrier && p.stopRun == nil {
			p.checkDup = true // between sessions: at the next heartbeat
		}
		for _, c := range carriers {
			if p == nil || !p.carrier || p.stopRun == nil {
				break
			}
			if c.Node < e.cfg.Self.ID && c.Group == e.cfg.Self.Group && c.Upstream == p.upstream &&
				c.RelayAddr != "" && alive[c.Node] && !c.Stale(now, e.cfg.DeadAfter) && p.avoided[c.Node].Before(now) {
				p.yielded = true
				p.stopRun()
				break
			}
		}
		e.mu.Unlock()
	}
}

// avoid keeps pull p away from carrier id until until (it failed the pull:
// unreachable, or not carrying the stream although its record says so).
func (e *Engine) avoid(p *pull, id node.ID, until time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if p.avoided == nil {
		p.avoided = map[node.ID]time.Time{}
	}
	p.avoided[id] = until
}

// avoids reports whether pull p keeps away from carrier id at now; a nil
// pull avoids none.
func (e *Engine) avoids(p *pull, id node.ID, now time.Time) bool {
	if p == nil {
		return false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return !p.avoided[id].Before(now)
}
