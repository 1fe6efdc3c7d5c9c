package placement

import (
	"errors"
	"testing"
	"time"

	"github.com/colony-live/colony/core/node"
)

func TestChoose(t *testing.T) {
	now := time.Unix(9000, 0)
	mk := func(id string, role node.Role, group string, cpu float64, viewers int, age time.Duration) node.Node {
		return node.Node{ID: node.ID(id), Role: role, Group: group, LastSeen: now.Add(-age), Load: node.Load{CPUPercent: cpu, Viewers: viewers}}
	}
	nodes := []node.Node{
		mk("o1", node.RoleOrigin, "eu", 50, 0, 0),
		mk("o2", node.RoleOrigin, "us", 10, 0, 0),
		mk("e1", node.RoleEdge, "eu", 30, 100, 0),
		mk("e2", node.RoleEdge, "eu", 30, 10, 0),
		mk("e3", node.RoleEdge, "us", 1, 0, time.Minute), // dead
		mk("b1", node.RoleBoth, "us", 80, 0, 0),
	}
	tests := []struct {
		name string
		c    Criteria
		want node.ID
		err  error
	}{
		{"least loaded origin", Criteria{Ingest: true}, "o2", nil},
		{"origin in group wins over load", Criteria{Ingest: true, Group: "eu"}, "o1", nil},
		{"edge by viewers tiebreak, dead skipped", Criteria{}, "e2", nil},
		{"edge in group us: only both-node", Criteria{Group: "us"}, "b1", nil},
		{"unknown group falls back", Criteria{Group: "asia"}, "e2", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Choose(nodes, now, tt.c)
			if !errors.Is(err, tt.err) || got.ID != tt.want {
				t.Fatalf("Choose = %s, %v; want %s, %v", got.ID, err, tt.want, tt.err)
			}
		})
	}
	if _, err := Choose(nodes[4:5], now, Criteria{}); !errors.Is(err, ErrNoNode) {
		t.Fatalf("only dead nodes: err = %v", err)
	}
	tie := []node.Node{mk("z", node.RoleEdge, "", 5, 0, 0), mk("a", node.RoleEdge, "", 5, 0, 0)}
	if got, _ := Choose(tie, now, Criteria{}); got.ID != "a" {
		t.Fatalf("tie went to %s, want a", got.ID)
	}
}
