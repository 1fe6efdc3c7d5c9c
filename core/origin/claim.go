// Package origin holds the origin-assignment rules: which node ingests a
// stream, and when another node may take the stream over. It does no I/O;
// stores apply these rules atomically.
package origin

import (
	"errors"
	"fmt"
	"time"

	"github.com/colony-live/colony/core/node"
	"github.com/colony-live/colony/core/stream"
)

// DefaultStaleAfter is how long a claim lives without renewal before another
// node may take it over. It equals the node dead-after time: a claim is
// renewed by its owner's heartbeat.
const DefaultStaleAfter = node.DefaultDeadAfter

// Claim records that Node ingests Stream.
type Claim struct {
	Stream    stream.Key
	Node      node.ID
	RelayAddr string // where edges pull the stream from
	ClaimedAt time.Time
	RenewedAt time.Time
}

// Stale reports whether the claim has not been renewed within staleAfter.
func (c Claim) Stale(now time.Time, staleAfter time.Duration) bool {
	return now.Sub(c.RenewedAt) > staleAfter
}

// ErrNoClaim is returned when a stream has no origin.
var ErrNoClaim = errors.New("stream has no origin")

// ErrNotOwner is returned when a node renews or releases a claim it does not hold.
var ErrNotOwner = errors.New("origin claim is held by another node")

// TakenError says that another live node is the origin of the stream.
type TakenError struct {
	Stream stream.Key
	Owner  node.ID
}

func (e *TakenError) Error() string {
	return fmt.Sprintf("stream %s is already published on node %s", e.Stream, e.Owner)
}

// Decide applies the claim rules: claimant may become the origin of a stream
// whose current claim is existing (nil when none) if there is no claim, if it
// already holds the claim, or if the holder's claim is stale. Otherwise it
// returns a *TakenError. The claim to store on success is returned.
func Decide(existing *Claim, claimant node.ID, relayAddr string, key stream.Key, now time.Time, staleAfter time.Duration) (Claim, error) {
	next := Claim{Stream: key, Node: claimant, RelayAddr: relayAddr, ClaimedAt: now, RenewedAt: now}
	if existing == nil {
		return next, nil
	}
	if existing.Node == claimant {
		next.ClaimedAt = existing.ClaimedAt
		return next, nil
	}
	if existing.Stale(now, staleAfter) {
		return next, nil
	}
	return Claim{}, &TakenError{Stream: key, Owner: existing.Node}
}

// Renew returns c renewed at now by its owner, or ErrNotOwner.
func Renew(c Claim, by node.ID, now time.Time) (Claim, error) {
	if c.Node != by {
		return c, fmt.Errorf("%w: %s holds %s", ErrNotOwner, c.Node, c.Stream)
	}
	c.RenewedAt = now
	return c, nil
}
