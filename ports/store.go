package ports

import (
	"context"
	"time"

	"github.com/colony-live/colony/core/node"
	"github.com/colony-live/colony/core/origin"
	"github.com/colony-live/colony/core/stream"
)

// NodeRegistry records the nodes of a cluster and their heartbeats.
type NodeRegistry interface {
	// Register inserts or replaces n (keyed by n.ID); n.LastSeen is its first heartbeat.
	Register(ctx context.Context, n node.Node) error
	// Heartbeat records id's load at now. ErrNotFound if id is not registered
	// (for example, purged while partitioned): the caller registers again.
	Heartbeat(ctx context.Context, id node.ID, load node.Load, now time.Time) error
	// Deregister removes id at once (graceful shutdown). Removing an unknown id is not an error.
	Deregister(ctx context.Context, id node.ID) error
	// Nodes lists every registered node, dead or alive, ordered by id.
	Nodes(ctx context.Context) ([]node.Node, error)
	// PurgeNodes removes nodes whose last heartbeat is before cutoff and returns how many.
	PurgeNodes(ctx context.Context, cutoff time.Time) (int, error)
}

// OriginClaims records which node ingests each stream. Claim must be atomic:
// of any number of concurrent claimants for one stream, exactly one wins.
type OriginClaims interface {
	// Claim makes c.Node the origin of c.Stream following origin.Decide with
	// staleAfter, and returns the stored claim. A stream held by another node
	// whose claim is fresh gives a *origin.TakenError.
	Claim(ctx context.Context, c origin.Claim, staleAfter time.Duration) (origin.Claim, error)
	// RenewClaims renews every claim held by id at now and returns how many.
	RenewClaims(ctx context.Context, id node.ID, now time.Time) (int, error)
	// Release drops id's claim on key. No claim is not an error; a claim held
	// by another node gives origin.ErrNotOwner and is kept.
	Release(ctx context.Context, key stream.Key, id node.ID) error
	// Origin returns the claim on key, or origin.ErrNoClaim.
	Origin(ctx context.Context, key stream.Key) (origin.Claim, error)
	// Claims lists every claim held by id (all claims when id is empty).
	Claims(ctx context.Context, id node.ID) ([]origin.Claim, error)
}

// ListQuery selects broadcasts.
type ListQuery struct {
	App    stream.App    // required
	Status stream.Status // only this status when set
	Search string        // substring of stream id or name, when set
	SortBy string        // "name", "date" (created) or "status"; default creation order
	Desc   bool          // descending order
	Offset int
	Limit  int // at most this many; 0 means no limit
}

// StreamCatalog keeps broadcast records.
type StreamCatalog interface {
	// CreateBroadcast inserts b. ErrConflict if b.Key exists.
	CreateBroadcast(ctx context.Context, b stream.Broadcast) error
	// Broadcast returns the record for key, or ErrNotFound.
	Broadcast(ctx context.Context, key stream.Key) (stream.Broadcast, error)
	// UpdateBroadcast applies fn to the stored record atomically (retrying on
	// concurrent updates) and returns the result. With create set, a missing
	// record starts as stream.NewBroadcast(key, now); otherwise ErrNotFound.
	UpdateBroadcast(ctx context.Context, key stream.Key, create bool, now time.Time, fn func(*stream.Broadcast) error) (stream.Broadcast, error)
	// DeleteBroadcast removes key's record; ErrNotFound if there is none.
	DeleteBroadcast(ctx context.Context, key stream.Key) error
	// Broadcasts lists records matching q, and the total count before paging.
	Broadcasts(ctx context.Context, q ListQuery) ([]stream.Broadcast, int, error)
	// LiveBroadcasts lists every broadcasting record of every app (for sweeping).
	LiveBroadcasts(ctx context.Context) ([]stream.Broadcast, error)
}

// Carrier records that Node, a node of Group, pulls Stream straight from
// its origin Upstream and serves it on RelayAddr to the other nodes of its
// group (tiered relay: the edges of a group pull a stream from an origin in
// another group once, through one of them).
type Carrier struct {
	Stream    stream.Key
	Node      node.ID
	Group     string
	RelayAddr string
	Upstream  node.ID // the origin it pulls from
	RenewedAt time.Time
}

// Stale reports whether c has not been renewed within staleAfter.
func (c Carrier) Stale(now time.Time, staleAfter time.Duration) bool {
	return now.Sub(c.RenewedAt) > staleAfter
}

// StreamRelays records which nodes carry which streams for their group.
// Records are renewed by their node's heartbeat, like origin claims.
type StreamRelays interface {
	// AddCarrier inserts c, or replaces the record of c.Node for c.Stream.
	AddCarrier(ctx context.Context, c Carrier) error
	// RenewCarriers renews every record of id at now and returns how many.
	RenewCarriers(ctx context.Context, id node.ID, now time.Time) (int, error)
	// RemoveCarrier drops id's record for key. No record is not an error.
	RemoveCarrier(ctx context.Context, key stream.Key, id node.ID) error
	// Carriers lists the records of key (of every stream when key is the
	// zero Key), only id's when id is set, ordered by stream then node.
	Carriers(ctx context.Context, key stream.Key, id node.ID) ([]Carrier, error)
	// PurgeCarriers removes the records renewed before cutoff and returns how many.
	PurgeCarriers(ctx context.Context, cutoff time.Time) (int, error)
}

// Store is everything the core keeps: the standalone (bbolt) and cluster
// (MongoDB) adapters both implement it and pass ports/portstest.
type Store interface {
	NodeRegistry
	OriginClaims
	StreamCatalog
	StreamRelays
	// Ping checks that the store answers.
	Ping(ctx context.Context) error
	// Close releases the store.
	Close(ctx context.Context) error
}
