package portstest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/colony-live/colony/core/node"
	"github.com/colony-live/colony/core/origin"
	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
)

// MemStore is an in-memory ports.Store for unit tests of code that needs a
// store (it passes Run, so it behaves as the real stores do). SetDown makes
// every call fail with ports.ErrUnavailable, FailOn one method; Calls counts
// the calls of a method; the Peek and Put helpers read and write records
// directly (never failing, not counted).
type MemStore struct {
	mu         sync.Mutex
	down       bool
	failOp     map[string]bool
	calls      map[string]int
	nodes      map[node.ID]node.Node
	claims     map[stream.Key]origin.Claim
	broadcasts map[stream.Key]stream.Broadcast
	carriers   map[carrierID]ports.Carrier
}

var _ ports.Store = (*MemStore)(nil)

// NewMemStore returns an empty store.
func NewMemStore() *MemStore {
	return &MemStore{failOp: map[string]bool{}, calls: map[string]int{}, nodes: map[node.ID]node.Node{}, claims: map[stream.Key]origin.Claim{}, broadcasts: map[stream.Key]stream.Broadcast{}, carriers: map[carrierID]ports.Carrier{}}
}

// SetDown makes the store unreachable (true) or reachable again.
func (m *MemStore) SetDown(down bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.down = down
}

// FailOn makes calls of the named method (such as "Heartbeat") fail with
// ports.ErrUnavailable, or work again.
func (m *MemStore) FailOn(method string, fail bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.failOp[method] = fail
}

// Calls returns how many times method was called, failed calls included.
func (m *MemStore) Calls(method string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.calls[method]
}

// lock takes the store's lock for a call of method and counts it. It fails
// (releasing the lock) if the store or the method is down, or ctx is done.
func (m *MemStore) lock(ctx context.Context, method string) error {
	m.mu.Lock()
	m.calls[method]++
	err := ctx.Err()
	if m.down || m.failOp[method] {
		err = fmt.Errorf("memstore %s: %w", method, ports.ErrUnavailable)
	}
	if err != nil {
		m.mu.Unlock()
	}
	return err
}

func (m *MemStore) Ping(ctx context.Context) error {
	if err := m.lock(ctx, "Ping"); err != nil {
		return err
	}
	m.mu.Unlock()
	return nil
}

func (m *MemStore) Close(context.Context) error { return nil }

func (m *MemStore) Register(ctx context.Context, n node.Node) error {
	if err := m.lock(ctx, "Register"); err != nil {
		return err
	}
	defer m.mu.Unlock()
	m.nodes[n.ID] = cloneNode(n)
	return nil
}

func (m *MemStore) Heartbeat(ctx context.Context, id node.ID, load node.Load, now time.Time) error {
	if err := m.lock(ctx, "Heartbeat"); err != nil {
		return err
	}
	defer m.mu.Unlock()
	n, ok := m.nodes[id]
	if !ok {
		return fmt.Errorf("memstore: node %s: %w", id, ports.ErrNotFound)
	}
	n.Load, n.LastSeen = load, now
	m.nodes[id] = cloneNode(n)
	return nil
}

func (m *MemStore) Deregister(ctx context.Context, id node.ID) error {
	if err := m.lock(ctx, "Deregister"); err != nil {
		return err
	}
	defer m.mu.Unlock()
	delete(m.nodes, id)
	return nil
}

func (m *MemStore) Nodes(ctx context.Context) ([]node.Node, error) {
	if err := m.lock(ctx, "Nodes"); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	out := make([]node.Node, 0, len(m.nodes))
	for _, n := range m.nodes {
		out = append(out, cloneNode(n))
	}
	slices.SortFunc(out, func(a, b node.Node) int {
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	})
	return out, nil
}

func (m *MemStore) PurgeNodes(ctx context.Context, cutoff time.Time) (int, error) {
	if err := m.lock(ctx, "PurgeNodes"); err != nil {
		return 0, err
	}
	defer m.mu.Unlock()
	n := 0
	for id, x := range m.nodes {
		if x.LastSeen.Before(cutoff) {
			delete(m.nodes, id)
			n++
		}
	}
	return n, nil
}

func (m *MemStore) Claim(ctx context.Context, c origin.Claim, staleAfter time.Duration) (origin.Claim, error) {
	if err := m.lock(ctx, "Claim"); err != nil {
		return origin.Claim{}, err
	}
	defer m.mu.Unlock()
	var existing *origin.Claim
	if cur, ok := m.claims[c.Stream]; ok {
		existing = &cur
	}
	next, err := origin.Decide(existing, c.Node, c.RelayAddr, c.Stream, c.RenewedAt, staleAfter)
	if err != nil {
		return origin.Claim{}, err
	}
	m.claims[c.Stream] = next
	return next, nil
}

func (m *MemStore) RenewClaims(ctx context.Context, id node.ID, now time.Time) (int, error) {
	if err := m.lock(ctx, "RenewClaims"); err != nil {
		return 0, err
	}
	defer m.mu.Unlock()
	n := 0
	for k, c := range m.claims {
		if c.Node == id {
			c.RenewedAt = now
			m.claims[k] = c
			n++
		}
	}
	return n, nil
}

func (m *MemStore) Release(ctx context.Context, key stream.Key, id node.ID) error {
	if err := m.lock(ctx, "Release"); err != nil {
		return err
	}
	defer m.mu.Unlock()
	c, ok := m.claims[key]
	if !ok {
		return nil
	}
	if c.Node != id {
		return fmt.Errorf("memstore: release %s: %w", key, origin.ErrNotOwner)
	}
	delete(m.claims, key)
	return nil
}

func (m *MemStore) Origin(ctx context.Context, key stream.Key) (origin.Claim, error) {
	if err := m.lock(ctx, "Origin"); err != nil {
		return origin.Claim{}, err
	}
	defer m.mu.Unlock()
	c, ok := m.claims[key]
	if !ok {
		return origin.Claim{}, fmt.Errorf("memstore: %s: %w", key, origin.ErrNoClaim)
	}
	return c, nil
}

func (m *MemStore) Claims(ctx context.Context, id node.ID) ([]origin.Claim, error) {
	if err := m.lock(ctx, "Claims"); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	var out []origin.Claim
	for _, c := range m.claims {
		if id == "" || c.Node == id {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b origin.Claim) int { return strings.Compare(a.Stream.String(), b.Stream.String()) })
	return out, nil
}

func (m *MemStore) CreateBroadcast(ctx context.Context, b stream.Broadcast) error {
	if err := m.lock(ctx, "CreateBroadcast"); err != nil {
		return err
	}
	defer m.mu.Unlock()
	if _, ok := m.broadcasts[b.Key]; ok {
		return fmt.Errorf("memstore: %s: %w", b.Key, ports.ErrConflict)
	}
	m.broadcasts[b.Key] = clone(b)
	return nil
}

func (m *MemStore) Broadcast(ctx context.Context, key stream.Key) (stream.Broadcast, error) {
	if err := m.lock(ctx, "Broadcast"); err != nil {
		return stream.Broadcast{}, err
	}
	defer m.mu.Unlock()
	b, ok := m.broadcasts[key]
	if !ok {
		return stream.Broadcast{}, fmt.Errorf("memstore: %s: %w", key, ports.ErrNotFound)
	}
	return clone(b), nil
}

func (m *MemStore) UpdateBroadcast(ctx context.Context, key stream.Key, create bool, now time.Time, fn func(*stream.Broadcast) error) (stream.Broadcast, error) {
	if err := m.lock(ctx, "UpdateBroadcast"); err != nil {
		return stream.Broadcast{}, err
	}
	defer m.mu.Unlock()
	b, ok := m.broadcasts[key]
	switch {
	case ok:
		b = clone(b)
	case create:
		b = stream.NewBroadcast(key, now)
	default:
		return stream.Broadcast{}, fmt.Errorf("memstore: %s: %w", key, ports.ErrNotFound)
	}
	if err := fn(&b); err != nil {
		return stream.Broadcast{}, err
	}
	m.broadcasts[key] = clone(b)
	return b, nil
}

func (m *MemStore) DeleteBroadcast(ctx context.Context, key stream.Key) error {
	if err := m.lock(ctx, "DeleteBroadcast"); err != nil {
		return err
	}
	defer m.mu.Unlock()
	if _, ok := m.broadcasts[key]; !ok {
		return fmt.Errorf("memstore: %s: %w", key, ports.ErrNotFound)
	}
	delete(m.broadcasts, key)
	return nil
}

func (m *MemStore) Broadcasts(ctx context.Context, q ports.ListQuery) ([]stream.Broadcast, int, error) {
	if err := m.lock(ctx, "Broadcasts"); err != nil {
		return nil, 0, err
	}
	defer m.mu.Unlock()
	var matched []stream.Broadcast
	for _, b := range m.broadcasts {
		if q.Match(b) {
			matched = append(matched, clone(b))
		}
	}
	q.Sort(matched)
	return q.Page(matched), len(matched), nil
}

func (m *MemStore) LiveBroadcasts(ctx context.Context) ([]stream.Broadcast, error) {
	if err := m.lock(ctx, "LiveBroadcasts"); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	var out []stream.Broadcast
	for _, b := range m.broadcasts {
		if b.Live() {
			out = append(out, clone(b))
		}
	}
	slices.SortFunc(out, func(a, b stream.Broadcast) int { return strings.Compare(a.Key.String(), b.Key.String()) })
	return out, nil
}

func clone(b stream.Broadcast) stream.Broadcast {
	b.Ladder = slices.Clone(b.Ladder)
	return b
}

// NodeRecord returns the stored node id, directly.
func (m *MemStore) NodeRecord(id node.ID) (node.Node, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, ok := m.nodes[id]
	return cloneNode(n), ok
}

// PutNode stores n directly.
func (m *MemStore) PutNode(n node.Node) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.nodes[n.ID] = cloneNode(n)
}

// cloneNode copies n's slices, so that the store and its callers never
// share them.
func cloneNode(n node.Node) node.Node {
	n.Load.StreamViewers = slices.Clone(n.Load.StreamViewers)
	return n
}

// RemoveNode deletes node id directly.
func (m *MemStore) RemoveNode(id node.ID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.nodes, id)
}

// ClaimRecord returns the stored claim on k, directly.
func (m *MemStore) ClaimRecord(k stream.Key) (origin.Claim, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.claims[k]
	return c, ok
}

// PutClaim stores c directly.
func (m *MemStore) PutClaim(c origin.Claim) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.claims[c.Stream] = c
}

// RemoveClaim deletes the claim on k directly.
func (m *MemStore) RemoveClaim(k stream.Key) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.claims, k)
}

// BroadcastRecord returns the stored broadcast k, directly.
func (m *MemStore) BroadcastRecord(k stream.Key) (stream.Broadcast, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.broadcasts[k]
	return clone(b), ok
}

// PutBroadcast stores b directly.
func (m *MemStore) PutBroadcast(b stream.Broadcast) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.broadcasts[b.Key] = clone(b)
}
