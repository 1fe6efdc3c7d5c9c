// Package placement chooses a node for a job by load. It is a pure function
// over a node list.
package placement

import (
	"errors"
	"time"

	"github.com/colony-live/colony/core/node"
)

// ErrNoNode is returned when no live node fits.
var ErrNoNode = errors.New("no live node fits")

// Criteria narrows the candidates.
type Criteria struct {
	// Ingest selects nodes that take publishers; otherwise nodes that serve viewers.
	Ingest bool
	// Group, when set, is preferred: a node of that group wins over any other.
	Group string
	// DeadAfter is the liveness window (node.DefaultDeadAfter when zero).
	DeadAfter time.Duration
}

// Score is a node's load in one number: lower is better. CPU dominates;
// viewers and streams break ties between idle nodes.
func Score(l node.Load) float64 {
	return l.CPUPercent + float64(l.Viewers)*0.01 + float64(l.Streams)*0.1
}

// Choose returns the live node with the lowest score that fits c, preferring
// c.Group. Ties go to the smaller id so that the choice is deterministic.
func Choose(nodes []node.Node, now time.Time, c Criteria) (node.Node, error) {
	if c.DeadAfter == 0 {
		c.DeadAfter = node.DefaultDeadAfter
	}
	var best node.Node
	found, bestInGroup := false, false
	for _, n := range nodes {
		if !n.Alive(now, c.DeadAfter) {
			continue
		}
		if c.Ingest && !n.Role.Ingests() || !c.Ingest && !n.Role.Serves() {
			continue
		}
		inGroup := c.Group != "" && n.Group == c.Group
		switch {
		case !found:
		case inGroup && !bestInGroup:
		case inGroup == bestInGroup && better(n, best):
		default:
			continue
		}
		best, found, bestInGroup = n, true, inGroup
	}
	if !found {
		return node.Node{}, ErrNoNode
	}
	return best, nil
}

func better(a, b node.Node) bool {
	sa, sb := Score(a.Load), Score(b.Load)
	if sa != sb {
		return sa < sb
	}
	return a.ID < b.ID
}
