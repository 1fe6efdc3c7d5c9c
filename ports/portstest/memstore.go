package portstest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/colony-live/colony/core/node"
	"github.com/colony-live/colony/core/origin"
	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
)

// MemStore is an in-memory ports.Store for unit tests of code that needs a
// store (it passes Run, so it behaves as the real stores do). Set Down to
// make every call fail with ports.ErrUnavailable.
type MemStore struct {
	mu         sync.Mutex
	down       bool
	nodes      map[node.ID]node.Node
	claims     map[stream.Key]origin.Claim
	broadcasts map[stream.Key]stream.Broadcast
}

var _ ports.Store = (*MemStore)(nil)

// NewMemStore returns an empty store.
func NewMemStore() *MemStore {
	return &MemStore{nodes: map[node.ID]node.Node{}, claims: map[stream.Key]origin.Claim{}, broadcasts: map[stream.Key]stream.Broadcast{}}
}

// SetDown makes the store unreachable (true) or reachable again.
func (m *MemStore) SetDown(down bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.down = down
}

// lock takes the store's lock, failing if ctx is done or the store is down.
func (m *MemStore) lock(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	if m.down {
		m.mu.Unlock()
		return fmt.Errorf("memstore: %w", ports.ErrUnavailable)
	}
	return nil
}

func (m *MemStore) Ping(ctx context.Context) error {
	if err := m.lock(ctx); err != nil {
		return err
	}
	m.mu.Unlock()
	return nil
}

func (m *MemStore) Close(context.Context) error { return nil }

func (m *MemStore) Register(ctx context.Context, n node.Node) error {
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	m.nodes[n.ID] = n
	return nil
}

func (m *MemStore) Heartbeat(ctx context.Context, id node.ID, load node.Load, now time.Time) error {
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	n, ok := m.nodes[id]
	if !ok {
		return fmt.Errorf("memstore: node %s: %w", id, ports.ErrNotFound)
	}
	n.Load, n.LastSeen = load, now
	m.nodes[id] = n
	return nil
}

func (m *MemStore) Deregister(ctx context.Context, id node.ID) error {
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	delete(m.nodes, id)
	return nil
}

func (m *MemStore) Nodes(ctx context.Context) ([]node.Node, error) {
	if err := m.lock(ctx); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	out := make([]node.Node, 0, len(m.nodes))
	for _, n := range m.nodes {
		out = append(out, n)
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
	if err := m.lock(ctx); err != nil {
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
	if err := m.lock(ctx); err != nil {
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
	if err := m.lock(ctx); err != nil {
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
	if err := m.lock(ctx); err != nil {
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
	if err := m.lock(ctx); err != nil {
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
	if err := m.lock(ctx); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	var out []origin.Claim
	for _, c := range m.claims {
		if id == "" || c.Node == id {
			out = append(out, c)
		}
	}
	return out, nil
}

func (m *MemStore) CreateBroadcast(ctx context.Context, b stream.Broadcast) error {
	if err := m.lock(ctx); err != nil {
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
	if err := m.lock(ctx); err != nil {
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
	if err := m.lock(ctx); err != nil {
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
	if err := m.lock(ctx); err != nil {
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
	if err := m.lock(ctx); err != nil {
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
	if err := m.lock(ctx); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	var out []stream.Broadcast
	for _, b := range m.broadcasts {
		if b.Live() {
			out = append(out, clone(b))
		}
	}
	return out, nil
}

func clone(b stream.Broadcast) stream.Broadcast {
	b.Ladder = slices.Clone(b.Ladder)
	return b
}
