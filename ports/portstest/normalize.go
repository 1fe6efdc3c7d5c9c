package portstest

import (
	"cmp"
	"slices"
	"time"

	"github.com/colony-live/colony/core/node"
	"github.com/colony-live/colony/core/origin"
	"github.com/colony-live/colony/core/stream"
)

// normTime returns t in UTC without monotonic reading, and the zero time for
// any zero instant, so that reflect.DeepEqual compares instants.
func normTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

func normNode(n node.Node) node.Node {
	n.StartedAt = normTime(n.StartedAt)
	n.LastSeen = normTime(n.LastSeen)
	if len(n.Load.StreamViewers) == 0 {
		n.Load.StreamViewers = nil
	}
	return n
}

func normNodes(ns []node.Node) []node.Node {
	out := make([]node.Node, 0, len(ns))
	for _, n := range ns {
		out = append(out, normNode(n))
	}
	return out
}

func normClaim(c origin.Claim) origin.Claim {
	c.ClaimedAt = normTime(c.ClaimedAt)
	c.RenewedAt = normTime(c.RenewedAt)
	return c
}

// normClaims normalises cs and sorts them by stream: stores list claims in
// no particular order.
func normClaims(cs []origin.Claim) []origin.Claim {
	out := make([]origin.Claim, 0, len(cs))
	for _, c := range cs {
		out = append(out, normClaim(c))
	}
	slices.SortFunc(out, func(a, b origin.Claim) int { return cmp.Compare(a.Stream.String(), b.Stream.String()) })
	return out
}

func normBroadcast(b stream.Broadcast) stream.Broadcast {
	b.CreatedAt = normTime(b.CreatedAt)
	b.StartTime = normTime(b.StartTime)
	b.EndTime = normTime(b.EndTime)
	b.UpdatedAt = normTime(b.UpdatedAt)
	if len(b.Ladder) == 0 {
		b.Ladder = nil
	} else {
		b.Ladder = slices.Clone(b.Ladder)
	}
	return b
}

func normBroadcasts(bs []stream.Broadcast) []stream.Broadcast {
	out := make([]stream.Broadcast, 0, len(bs))
	for _, b := range bs {
		out = append(out, normBroadcast(b))
	}
	return out
}

// ids returns the stream ids of bs, in order.
func ids(bs []stream.Broadcast) []string {
	out := make([]string, 0, len(bs))
	for _, b := range bs {
		out = append(out, string(b.Key.ID))
	}
	return out
}
