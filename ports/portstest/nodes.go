package portstest

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/colony-live/colony/core/node"
	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
)

// testNode returns a node with every field set, last seen at lastSeen.
func testNode(id node.ID, lastSeen time.Time) node.Node {
	return node.Node{
		ID:           id,
		Role:         node.RoleOrigin,
		Group:        "group-" + string(id),
		InternalAddr: "10.0.0.1:7000",
		PublicAddr:   "live.example.com:1935",
		HTTPAddr:     "10.0.0.1:5080",
		RTMPAddr:     "10.0.0.1:1935",
		Version:      "1.2.3",
		StartedAt:    at(-time.Hour),
		LastSeen:     lastSeen,
		Load: node.Load{
			CPUPercent:   37.5,
			MemoryBytes:  512 << 20,
			MemoryTotal:  16 << 30,
			Streams:      3,
			Viewers:      42,
			DBQueryAvgMs: 1.25,
			StreamViewers: []node.StreamViewers{
				{Stream: stream.Key{App: "LiveApp", ID: "cam.1"}, HLS: 30, WebRTC: 2, RTMP: 1},
				{Stream: stream.Key{App: "LiveApp", ID: stream.ID(strings.Repeat("x.", stream.MaxIDLen/2))}, HLS: 4},
				{Stream: stream.Key{App: "WebRTCAppEE", ID: ".leading-dot_and.dots."}, WebRTC: 5},
			},
		},
	}
}

func mustNodes(t *testing.T, s ports.NodeRegistry) []node.Node {
	t.Helper()
	ns, err := s.Nodes(ctx(t))
	if err != nil {
		t.Fatalf("Nodes: %v", err)
	}
	return normNodes(ns)
}

func assertNodes(t *testing.T, s ports.NodeRegistry, want ...node.Node) {
	t.Helper()
	got := mustNodes(t, s)
	if want == nil {
		want = []node.Node{}
	}
	if !reflect.DeepEqual(got, normNodes(want)) {
		t.Fatalf("Nodes:\n got  %+v\n want %+v", got, normNodes(want))
	}
}

func runNodes(t *testing.T, open func(t *testing.T) ports.Store) {
	t.Run("EmptyRegistry", func(t *testing.T) {
		s := open(t)
		assertNodes(t, s)
	})

	t.Run("RegisterRoundTripsAndOrdersByID", func(t *testing.T) {
		s := open(t)
		c := testNode("c-node", at(0))
		a := testNode("a-node", at(time.Second))
		a.Role, a.Group = node.RoleEdge, node.DefaultGroup
		b := testNode("b-node", at(2*time.Second))
		b.Role, b.Load = node.RoleBoth, node.Load{}
		for _, n := range []node.Node{c, a, b} {
			if err := s.Register(ctx(t), n); err != nil {
				t.Fatalf("Register %s: %v", n.ID, err)
			}
		}
		assertNodes(t, s, a, b, c)
	})

	t.Run("RegisterReplaces", func(t *testing.T) {
		s := open(t)
		n := testNode("n1", at(0))
		if err := s.Register(ctx(t), n); err != nil {
			t.Fatalf("Register: %v", err)
		}
		n2 := testNode("n1", at(time.Minute))
		n2.Role, n2.PublicAddr, n2.Version = node.RoleEdge, "other.example.com", "2.0.0"
		n2.Load = node.Load{CPUPercent: 1, Streams: 1}
		if err := s.Register(ctx(t), n2); err != nil {
			t.Fatalf("Register again: %v", err)
		}
		assertNodes(t, s, n2)
	})

	t.Run("Heartbeat", func(t *testing.T) {
		s := open(t)
		n := testNode("n1", at(0))
		other := testNode("n2", at(0))
		for _, x := range []node.Node{n, other} {
			if err := s.Register(ctx(t), x); err != nil {
				t.Fatalf("Register: %v", err)
			}
		}
		load := node.Load{CPUPercent: 99.5, MemoryBytes: 1 << 30, MemoryTotal: 2 << 30, Streams: 7, Viewers: 1000, DBQueryAvgMs: 3.5,
			StreamViewers: []node.StreamViewers{{Stream: stream.Key{App: "LiveApp", ID: "s.1"}, HLS: 999, RTMP: 1}}}
		if err := s.Heartbeat(ctx(t), "n1", load, at(5*time.Second)); err != nil {
			t.Fatalf("Heartbeat: %v", err)
		}
		want := n
		want.Load, want.LastSeen = load, at(5*time.Second)
		assertNodes(t, s, want, other)
		// A heartbeat without viewers clears the previous per-stream figures.
		load.StreamViewers = nil
		if err := s.Heartbeat(ctx(t), "n1", load, at(10*time.Second)); err != nil {
			t.Fatalf("Heartbeat: %v", err)
		}
		want.Load, want.LastSeen = load, at(10*time.Second)
		assertNodes(t, s, want, other)
	})

	t.Run("HeartbeatStreamViewersAtTheirBound", func(t *testing.T) {
		s := open(t)
		n := testNode("n1", at(0))
		if err := s.Register(ctx(t), n); err != nil {
			t.Fatalf("Register: %v", err)
		}
		load := n.Load
		load.StreamViewers = nil
		for i := range node.MaxStreamViewers {
			load.StreamViewers = append(load.StreamViewers, node.StreamViewers{
				Stream: stream.Key{App: "LiveApp", ID: stream.ID(fmt.Sprintf("stream-%04d.%s", i, strings.Repeat("x", 100)))},
				HLS:    i + 1, WebRTC: i % 3, RTMP: i % 2,
			})
		}
		if err := s.Heartbeat(ctx(t), "n1", load, at(5*time.Second)); err != nil {
			t.Fatalf("Heartbeat with %d streams: %v", len(load.StreamViewers), err)
		}
		want := n
		want.Load, want.LastSeen = load, at(5*time.Second)
		assertNodes(t, s, want)
	})

	t.Run("HeartbeatUnknown", func(t *testing.T) {
		s := open(t)
		err := s.Heartbeat(ctx(t), "ghost", node.Load{}, at(0))
		if !errors.Is(err, ports.ErrNotFound) {
			t.Fatalf("Heartbeat of unknown node: err = %v, want ports.ErrNotFound", err)
		}
		assertNodes(t, s)
	})

	t.Run("Deregister", func(t *testing.T) {
		s := open(t)
		a, b := testNode("a", at(0)), testNode("b", at(0))
		for _, x := range []node.Node{a, b} {
			if err := s.Register(ctx(t), x); err != nil {
				t.Fatalf("Register: %v", err)
			}
		}
		if err := s.Deregister(ctx(t), "a"); err != nil {
			t.Fatalf("Deregister: %v", err)
		}
		assertNodes(t, s, b)
		if err := s.Deregister(ctx(t), "a"); err != nil {
			t.Fatalf("Deregister twice: %v, want nil", err)
		}
		if err := s.Deregister(ctx(t), "never-registered"); err != nil {
			t.Fatalf("Deregister unknown: %v, want nil", err)
		}
		assertNodes(t, s, b)
	})

	t.Run("PurgeNodes", func(t *testing.T) {
		cutoff := at(time.Minute)
		tests := []struct {
			name     string
			lastSeen []time.Duration // one node per entry, ids n0, n1...
			purged   int
			kept     []int // indexes of nodes left
		}{
			{name: "Empty", purged: 0},
			{name: "AllFresh", lastSeen: []time.Duration{time.Minute, 2 * time.Minute}, purged: 0, kept: []int{0, 1}},
			{name: "AtCutoffIsKept", lastSeen: []time.Duration{time.Minute}, purged: 0, kept: []int{0}},
			{name: "JustBeforeCutoff", lastSeen: []time.Duration{time.Minute - time.Millisecond}, purged: 1},
			{name: "Mixed", lastSeen: []time.Duration{0, 2 * time.Minute, 30 * time.Second, time.Minute, -time.Hour}, purged: 3, kept: []int{1, 3}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := open(t)
				var all []node.Node
				for i, d := range tt.lastSeen {
					n := testNode(node.ID("n"+string(rune('0'+i))), at(d))
					all = append(all, n)
					if err := s.Register(ctx(t), n); err != nil {
						t.Fatalf("Register: %v", err)
					}
				}
				got, err := s.PurgeNodes(ctx(t), cutoff)
				if err != nil {
					t.Fatalf("PurgeNodes: %v", err)
				}
				if got != tt.purged {
					t.Errorf("PurgeNodes = %d, want %d", got, tt.purged)
				}
				var want []node.Node
				for _, i := range tt.kept {
					want = append(want, all[i])
				}
				assertNodes(t, s, want...)
			})
		}
	})
}
