// Package node holds the cluster-member domain: node identity, role, load and
// liveness computed from heartbeats. It does no I/O.
package node

import (
	"errors"
	"fmt"
	"time"
)

// DefaultDeadAfter is how old a node's last heartbeat may be before the node
// counts as dead.
const DefaultDeadAfter = 20 * time.Second

// DefaultHeartbeatEvery is how often a live node reports its load.
const DefaultHeartbeatEvery = 5 * time.Second

// ID identifies a node in the cluster. It is stable across restarts of the
// same node (derived from its configuration) or random when unset.
type ID string

// Role says what a node does in a cluster.
type Role string

// The roles. A standalone server is RoleBoth.
const (
	RoleOrigin Role = "origin" // ingests, transcodes, serves relay pulls
	RoleEdge   Role = "edge"   // serves viewers, pulls from origins
	RoleBoth   Role = "both"   // does either
)

// ErrInvalidRole is returned by ParseRole.
var ErrInvalidRole = errors.New("invalid node role")

// ParseRole validates a role name.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleOrigin, RoleEdge, RoleBoth:
		return r, nil
	case "":
		return RoleBoth, nil
	}
	return "", fmt.Errorf("%w %q (want origin, edge or both)", ErrInvalidRole, s)
}

// Ingests reports whether the role takes publishers.
func (r Role) Ingests() bool { return r == RoleOrigin || r == RoleBoth }

// Serves reports whether the role takes viewers.
func (r Role) Serves() bool { return r == RoleEdge || r == RoleBoth }

// Load is what a node reports with each heartbeat.
type Load struct {
	CPUPercent   float64 // 0..100 of the whole machine
	MemoryBytes  uint64  // resident memory of the process
	MemoryTotal  uint64  // memory of the machine
	Streams      int     // streams published (or pulled) here
	Viewers      int     // viewers over all protocols
	DBQueryAvgMs float64 // measured registry round-trip time
	// StreamViewers are this node's viewers per stream and protocol, as
	// ReportedViewers keeps them (streams with viewers only, at most
	// MaxStreamViewers, ordered by stream); ClusterViewers sums them over
	// the alive nodes.
	StreamViewers []StreamViewers
}

// Node is one member of a cluster.
type Node struct {
	ID           ID
	Role         Role
	Group        string // node group; "default" when unset
	InternalAddr string // host:port for relay pulls (internal network)
	PublicAddr   string // host or host:port viewers and publishers use
	HTTPAddr     string // host:port of the HTTP API
	RTMPAddr     string // host:port of RTMP ingest (origins); empty when none
	Version      string
	StartedAt    time.Time
	LastSeen     time.Time // time of the last heartbeat
	Load         Load
}

// DefaultGroup is the node group of nodes configured without one.
const DefaultGroup = "default"

// Alive reports whether the node heartbeated within deadAfter of now.
func (n Node) Alive(now time.Time, deadAfter time.Duration) bool {
	return now.Sub(n.LastSeen) <= deadAfter
}

// Purgeable reports whether a dead node has been silent for longer than
// purgeAfter and may be removed from the registry.
func (n Node) Purgeable(now time.Time, purgeAfter time.Duration) bool {
	return now.Sub(n.LastSeen) > purgeAfter
}
