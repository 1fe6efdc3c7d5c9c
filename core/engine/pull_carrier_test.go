package engine

import (
	"context"
	"errors"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/colony-live/colony/core/node"
	"github.com/colony-live/colony/core/origin"
	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
)

const ownGroup = "eu"

// inGroup puts the test engine in node group g.
func inGroup(g string) option { return withConfig(func(c *Config) { c.Self.Group = g }) }

// putPeer registers a live node id of group g.
func (h *harness) putPeer(id node.ID, g string) {
	h.store.putNode(node.Node{ID: id, Role: node.RoleEdge, Group: g, InternalAddr: string(id) + ":5000", LastSeen: h.clock.Now()})
}

// carrierOf is a fresh record of id carrying k for group g from origin up.
func (h *harness) carrierOf(k stream.Key, id node.ID, g string, up node.ID) ports.Carrier {
	return ports.Carrier{Stream: k, Node: id, Group: g, RelayAddr: string(id) + ":5000", Upstream: up, RenewedAt: h.clock.Now()}
}

// selfCarrier is the record this engine writes when it carries k from up.
func selfCarrier(k stream.Key, up node.ID) ports.Carrier {
	return ports.Carrier{Stream: k, Node: selfID, Group: ownGroup, RelayAddr: selfRelay, Upstream: up}
}

// carriersOf returns the store's records of id, RenewedAt cleared.
func (h *harness) carriersOf(id node.ID) []ports.Carrier {
	var out []ports.Carrier
	for _, c := range h.store.CarrierRecords() {
		if c.Node == id {
			c.RenewedAt = time.Time{}
			out = append(out, c)
		}
	}
	return out
}

func assertSelfCarries(t *testing.T, h *harness, want ...ports.Carrier) {
	t.Helper()
	eventually(t, "carrier records of this node", func() bool {
		got := h.carriersOf(selfID)
		return len(got) == len(want) && (len(want) == 0 || reflect.DeepEqual(got, want))
	})
}

// TestGroupSource: where an edge pulls from, given its origin's group and
// the carrier records of the stream.
func TestGroupSource(t *testing.T) {
	k := key("s1")
	tests := []struct {
		name        string
		originGroup string // "" : the origin is not in the registry
		carriers    func(h *harness) []ports.Carrier
		wantFrom    node.ID
		wantCarrier bool // this node advertises itself
	}{
		{"origin of own group", ownGroup, nil, "origin-1", false},
		{"origin of own group, carrier present", ownGroup, func(h *harness) []ports.Carrier {
			return []ports.Carrier{h.carrierOf(k, "edge-b", ownGroup, "origin-1")}
		}, "origin-1", false},
		{"origin unknown to the registry", "", nil, "origin-1", false},
		{"foreign origin, no carrier", "us", nil, "origin-1", true},
		{"foreign origin, carrier in own group", "us", func(h *harness) []ports.Carrier {
			return []ports.Carrier{h.carrierOf(k, "edge-b", ownGroup, "origin-1")}
		}, "edge-b", false},
		{"carrier of another group", "us", func(h *harness) []ports.Carrier {
			return []ports.Carrier{h.carrierOf(k, "edge-b", "asia", "origin-1")}
		}, "origin-1", true},
		{"carrier of an old origin", "us", func(h *harness) []ports.Carrier {
			return []ports.Carrier{h.carrierOf(k, "edge-b", ownGroup, "origin-0")}
		}, "origin-1", true},
		{"stale carrier", "us", func(h *harness) []ports.Carrier {
			c := h.carrierOf(k, "edge-b", ownGroup, "origin-1")
			c.RenewedAt = c.RenewedAt.Add(-testDead - time.Second)
			return []ports.Carrier{c}
		}, "origin-1", true},
		{"carrier on a dead node", "us", func(h *harness) []ports.Carrier {
			h.store.putNode(node.Node{ID: "edge-b", Group: ownGroup, LastSeen: h.clock.Now().Add(-testDead - time.Second)})
			return []ports.Carrier{h.carrierOf(k, "edge-b", ownGroup, "origin-1")}
		}, "origin-1", true},
		{"carrier for another stream", "us", func(h *harness) []ports.Carrier {
			return []ports.Carrier{h.carrierOf(key("s2"), "edge-b", ownGroup, "origin-1")}
		}, "origin-1", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sess := newFakeSession(avTracks)
			p := &scriptedPuller{script: sessions(sess)}
			h, _ := edge(t, p, 1, inGroup(ownGroup))
			claim := h.originClaim(k, "origin-1")
			if tt.originGroup != "" {
				h.putPeer("origin-1", tt.originGroup)
			}
			h.putPeer("edge-b", ownGroup)
			if tt.carriers != nil {
				for _, c := range tt.carriers(h) {
					h.store.PutCarrier(c)
				}
			}
			if _, err := h.e.Play(ctxT(t), ports.PlayRequest{Key: k}); err != nil {
				t.Fatalf("Play: %v", err)
			}
			opens := p.opens()
			if len(opens) != 1 || opens[0].Node != tt.wantFrom {
				t.Fatalf("Open calls = %+v, want one from %s", opens, tt.wantFrom)
			}
			if tt.wantFrom == "origin-1" && opens[0] != claim {
				t.Fatalf("Open from %+v, want the claim %+v", opens[0], claim)
			}
			if tt.wantFrom == "edge-b" && opens[0].RelayAddr != "edge-b:5000" {
				t.Fatalf("Open from carrier at %q, want its relay address", opens[0].RelayAddr)
			}
			if tt.wantCarrier {
				assertSelfCarries(t, h, selfCarrier(k, "origin-1"))
			} else {
				time.Sleep(50 * time.Millisecond) // a few heartbeats
				assertSelfCarries(t, h)
			}
		})
	}
}

// TestGroupCarrierLifecycle: the carrier record is renewed by the
// heartbeat, kept while other edges pull from this one, and removed when
// the pull stops.
func TestGroupCarrierLifecycle(t *testing.T) {
	sess := newFakeSession(avTracks)
	p := &scriptedPuller{script: sessions(sess)}
	relays := &atomicCounter{}
	h, viewers := edge(t, p, 1, inGroup(ownGroup), func(_ *Config, d *Deps) { d.Relays = relays })
	k := key("s1")
	h.originClaim(k, "origin-1")
	h.putPeer("origin-1", "us")
	s, err := h.e.Play(ctxT(t), ports.PlayRequest{Key: k})
	if err != nil {
		t.Fatalf("Play: %v", err)
	}
	assertSelfCarries(t, h, selfCarrier(k, "origin-1"))
	later := h.clock.Advance(time.Minute)
	eventually(t, "heartbeat renews the record", func() bool {
		cs := h.store.CarrierRecords()
		return len(cs) == 1 && cs[0].RenewedAt.Equal(later)
	})
	// No viewer here, but another edge of the group pulls from this one.
	relays.n.Store(1)
	viewers.Store(0)
	time.Sleep(3 * h.e.cfg.PullIdleTimeout)
	if closed(s.Done()) {
		t.Fatal("pull relayed to the group stopped as idle")
	}
	relays.n.Store(0)
	waitClosed(t, "idle pull's stream closed", s.Done())
	assertSelfCarries(t, h)
}

// TestGroupCarrierFallsBackToOrigin: a carrier whose upstream breaks
// withdraws before it looks for a new source and pulls from the origin,
// never from another carrier (no loops).
func TestGroupCarrierFallsBackToOrigin(t *testing.T) {
	s1, s2 := newFakeSession(avTracks), newFakeSession(avTracks)
	atSecondOpen := make(chan []ports.Carrier, 1)
	p := &scriptedPuller{}
	h, _ := edge(t, p, 1, inGroup(ownGroup))
	p.script = func(_ context.Context, n int, _ origin.Claim) (ports.PullSession, error) {
		switch n {
		case 1:
			return s1, nil
		case 2:
			atSecondOpen <- h.carriersOf(selfID)
			return s2, nil
		}
		return nil, errors.New("unexpected Open")
	}
	k := key("s1")
	h.originClaim(k, "origin-1")
	h.putPeer("origin-1", "us")
	h.putPeer("zz-edge", ownGroup)
	if _, err := h.e.Play(ctxT(t), ports.PlayRequest{Key: k}); err != nil {
		t.Fatalf("Play: %v", err)
	}
	assertSelfCarries(t, h, selfCarrier(k, "origin-1"))
	// Another carrier appears (of higher id: this node does not yield to
	// it), then our upstream breaks.
	h.store.PutCarrier(h.carrierOf(k, "zz-edge", ownGroup, "origin-1"))
	close(s1.units)
	var kept []ports.Carrier
	select {
	case kept = <-atSecondOpen:
	case <-time.After(5 * time.Second):
		t.Fatal("no second Open")
	}
	if from := p.opens()[1].Node; from != "origin-1" {
		t.Fatalf("carrier re-pulled from %s, want the origin", from)
	}
	if len(kept) != 0 {
		t.Fatalf("carrier record kept while re-pulling: %+v", kept)
	}
	assertSelfCarries(t, h, selfCarrier(k, "origin-1"))
}

// TestGroupFollowerOfBrokenCarrier: an edge pulling from a carrier that
// stops (or cannot be reached) pulls from the origin and carries the
// stream itself.
func TestGroupFollowerOfBrokenCarrier(t *testing.T) {
	s1, s2, s3 := newFakeSession(avTracks), newFakeSession(avTracks), newFakeSession(avTracks)
	p := &scriptedPuller{}
	p.script = func(_ context.Context, n int, from origin.Claim) (ports.PullSession, error) {
		switch {
		case n == 1 && from.Node == "edge-b":
			return s1, nil
		case n == 2 && from.Node == "edge-b":
			return nil, errors.New("connection refused") // its record is still fresh
		case n == 3 && from.Node == "origin-1":
			return s2, nil
		}
		return s3, nil
	}
	h, _ := edge(t, p, 1, inGroup(ownGroup))
	k := key("s1")
	h.originClaim(k, "origin-1")
	h.putPeer("origin-1", "us")
	h.putPeer("edge-b", ownGroup)
	h.store.PutCarrier(h.carrierOf(k, "edge-b", ownGroup, "origin-1"))
	if _, err := h.e.Play(ctxT(t), ports.PlayRequest{Key: k}); err != nil {
		t.Fatalf("Play: %v", err)
	}
	time.Sleep(50 * time.Millisecond)
	assertSelfCarries(t, h)
	close(s1.units) // the carrier went away
	eventually(t, "third Open", func() bool { return len(p.opens()) >= 3 })
	var got []node.ID
	for _, c := range p.opens() {
		got = append(got, c.Node)
	}
	if want := []node.ID{"edge-b", "edge-b", "origin-1"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Open from %v, want %v", got, want)
	}
	assertSelfCarries(t, h, selfCarrier(k, "origin-1"))
	// The failed carrier's record is still fresh and its id lower: this
	// node does not yield back to it (it avoids it for a while).
	time.Sleep(10 * h.e.cfg.HeartbeatEvery)
	if n := len(p.opens()); n != 3 {
		t.Fatalf("%d Open calls, want 3: yielded back to the failed carrier", n)
	}
}

// TestGroupHeartbeatReconcilesCarriers: a record of a stream this node does
// not carry (left by a crash) is removed; long-stale records of other
// nodes are purged.
func TestGroupHeartbeatReconcilesCarriers(t *testing.T) {
	h := newHarness(t, withRole(node.RoleEdge), inGroup(ownGroup), withPuller(&scriptedPuller{}))
	leftover := h.carrierOf(key("old"), selfID, ownGroup, "origin-1")
	other := h.carrierOf(key("s1"), "edge-b", ownGroup, "origin-1")
	ancient := h.carrierOf(key("s2"), "edge-c", ownGroup, "origin-1")
	ancient.RenewedAt = ancient.RenewedAt.Add(-testPurge - time.Second)
	for _, c := range []ports.Carrier{leftover, other, ancient} {
		h.store.PutCarrier(c)
	}
	h.run(t)
	eventually(t, "leftover and ancient records gone", func() bool {
		cs := h.store.CarrierRecords()
		return len(cs) == 1 && cs[0].Node == "edge-b"
	})
}

// atomicCounter is a ports.ViewerCounter with one count for every stream.
type atomicCounter struct{ n atomic.Int64 }

func (c *atomicCounter) Viewers(stream.Key) int { return int(c.n.Load()) }

// TestGroupCarrierYields: two edges of a group that raced to carry a
// stream: the one of higher id pulls from the other at its next heartbeat;
// the one of lower id keeps its pull.
func TestGroupCarrierYields(t *testing.T) {
	tests := []struct {
		name  string
		other node.ID // the racing carrier ("node-a" is this engine)
		yield bool
	}{
		{"to a lower id", "edge-b", true},
		{"not to a higher id", "zz-edge", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := key("s1")
			s1, s2 := newFakeSession(avTracks), newFakeSession(avTracks)
			p := &scriptedPuller{}
			h, _ := edge(t, p, 1, inGroup(ownGroup))
			p.script = func(_ context.Context, n int, _ origin.Claim) (ports.PullSession, error) {
				switch n {
				case 1: // the other edge advertises while this one opens
					h.store.PutCarrier(h.carrierOf(k, tt.other, ownGroup, "origin-1"))
					return s1, nil
				case 2:
					return s2, nil
				}
				return nil, errors.New("unexpected Open")
			}
			h.originClaim(k, "origin-1")
			h.putPeer("origin-1", "us")
			h.putPeer(tt.other, ownGroup)
			s, err := h.e.Play(ctxT(t), ports.PlayRequest{Key: k})
			if err != nil {
				t.Fatalf("Play: %v", err)
			}
			if from := p.opens()[0].Node; from != "origin-1" {
				t.Fatalf("first Open from %s, want the origin", from)
			}
			if !tt.yield {
				time.Sleep(10 * h.e.cfg.HeartbeatEvery)
				if n := len(p.opens()); n != 1 {
					t.Fatalf("%d Open calls, want 1 (no yield)", n)
				}
				assertSelfCarries(t, h, selfCarrier(k, "origin-1"))
				return
			}
			eventually(t, "second Open", func() bool { return len(p.opens()) == 2 })
			if from := p.opens()[1]; from.Node != tt.other || from.RelayAddr != string(tt.other)+":5000" {
				t.Fatalf("second Open from %+v, want the carrier %s", from, tt.other)
			}
			assertSelfCarries(t, h)
			if closed(s.Done()) {
				t.Fatal("the local stream closed across the switch")
			}
			eventually(t, "the new session runs", s2.ran.Load)
		})
	}
}

// TestGroupNoCarrierCallsWithoutPuller: a node that pulls nothing (an
// origin, a standalone server) spends no store call on carriers.
func TestGroupNoCarrierCallsWithoutPuller(t *testing.T) {
	h := newHarness(t, withRole(node.RoleOrigin))
	h.run(t)
	eventually(t, "heartbeats", func() bool { return h.store.count("Heartbeat") >= 3 })
	for _, m := range []string{"RenewCarriers", "PurgeCarriers", "Carriers"} {
		if n := h.store.count(m); n != 0 {
			t.Fatalf("%s called %d times on a node without a puller", m, n)
		}
	}
}
