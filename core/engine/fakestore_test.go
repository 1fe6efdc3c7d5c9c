package engine

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/colony-live/colony/core/node"
	"github.com/colony-live/colony/core/origin"
	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
)

// fakeStore is an in-memory ports.Store. Claim applies origin.Decide under
// the store's lock, so it is atomic. setDown makes every call fail with
// ports.ErrUnavailable; failOn does so for one method.
type fakeStore struct {
	mu     sync.Mutex
	down   bool
	failOp map[string]bool
	calls  map[string]int
	nodes  map[node.ID]node.Node
	claims map[stream.Key]origin.Claim
	bcasts map[stream.Key]stream.Broadcast
}

var _ ports.Store = (*fakeStore)(nil)

func newFakeStore() *fakeStore {
	return &fakeStore{
		failOp: make(map[string]bool),
		calls:  make(map[string]int),
		nodes:  make(map[node.ID]node.Node),
		claims: make(map[stream.Key]origin.Claim),
		bcasts: make(map[stream.Key]stream.Broadcast),
	}
}

// setDown makes the whole store unreachable (or reachable again).
func (f *fakeStore) setDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
}

// failOn makes calls to method fail with ports.ErrUnavailable (or not).
func (f *fakeStore) failOn(method string, fail bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failOp[method] = fail
}

// count returns how many times method was called (failed calls included).
func (f *fakeStore) count(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[method]
}

// enter locks the store and records a call; it returns the injected error, if any.
// The caller must unlock f.mu.
func (f *fakeStore) enter(ctx context.Context, method string) error {
	f.mu.Lock()
	f.calls[method]++
	if f.down || f.failOp[method] {
		return fmt.Errorf("fake %s: %w", method, ports.ErrUnavailable)
	}
	return ctx.Err()
}

// Direct accessors for tests (no call counting, never failing).

func (f *fakeStore) node(id node.ID) (node.Node, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, ok := f.nodes[id]
	return n, ok
}

func (f *fakeStore) putNode(n node.Node) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nodes[n.ID] = n
}

func (f *fakeStore) removeNode(id node.ID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.nodes, id)
}

func (f *fakeStore) claim(k stream.Key) (origin.Claim, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.claims[k]
	return c, ok
}

func (f *fakeStore) putClaim(c origin.Claim) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.claims[c.Stream] = c
}

func (f *fakeStore) removeClaim(k stream.Key) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.claims, k)
}

func (f *fakeStore) broadcast(k stream.Key) (stream.Broadcast, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.bcasts[k]
	return b, ok
}

func (f *fakeStore) putBroadcast(b stream.Broadcast) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.bcasts[b.Key] = b
}

// NodeRegistry.

func (f *fakeStore) Register(ctx context.Context, n node.Node) error {
	defer f.mu.Unlock()
	if err := f.enter(ctx, "Register"); err != nil {
		return err
	}
	f.nodes[n.ID] = n
	return nil
}

func (f *fakeStore) Heartbeat(ctx context.Context, id node.ID, load node.Load, now time.Time) error {
	defer f.mu.Unlock()
	if err := f.enter(ctx, "Heartbeat"); err != nil {
		return err
	}
	n, ok := f.nodes[id]
	if !ok {
		return fmt.Errorf("node %s: %w", id, ports.ErrNotFound)
	}
	n.Load, n.LastSeen = load, now
	f.nodes[id] = n
	return nil
}

func (f *fakeStore) Deregister(ctx context.Context, id node.ID) error {
	defer f.mu.Unlock()
	if err := f.enter(ctx, "Deregister"); err != nil {
		return err
	}
	delete(f.nodes, id)
	return nil
}

func (f *fakeStore) Nodes(ctx context.Context) ([]node.Node, error) {
	defer f.mu.Unlock()
	if err := f.enter(ctx, "Nodes"); err != nil {
		return nil, err
	}
	out := make([]node.Node, 0, len(f.nodes))
	for _, n := range f.nodes {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (f *fakeStore) PurgeNodes(ctx context.Context, cutoff time.Time) (int, error) {
	defer f.mu.Unlock()
	if err := f.enter(ctx, "PurgeNodes"); err != nil {
		return 0, err
	}
	n := 0
	for id, nd := range f.nodes {
		if nd.LastSeen.Before(cutoff) {
			delete(f.nodes, id)
			n++
		}
	}
	return n, nil
}

// OriginClaims.

func (f *fakeStore) Claim(ctx context.Context, c origin.Claim, staleAfter time.Duration) (origin.Claim, error) {
	defer f.mu.Unlock()
	if err := f.enter(ctx, "Claim"); err != nil {
		return origin.Claim{}, err
	}
	var existing *origin.Claim
	if cur, ok := f.claims[c.Stream]; ok {
		existing = &cur
	}
	next, err := origin.Decide(existing, c.Node, c.RelayAddr, c.Stream, c.RenewedAt, staleAfter)
	if err != nil {
		return origin.Claim{}, err
	}
	f.claims[c.Stream] = next
	return next, nil
}

func (f *fakeStore) RenewClaims(ctx context.Context, id node.ID, now time.Time) (int, error) {
	defer f.mu.Unlock()
	if err := f.enter(ctx, "RenewClaims"); err != nil {
		return 0, err
	}
	n := 0
	for k, c := range f.claims {
		if c.Node == id {
			c.RenewedAt = now
			f.claims[k] = c
			n++
		}
	}
	return n, nil
}

func (f *fakeStore) Release(ctx context.Context, key stream.Key, id node.ID) error {
	defer f.mu.Unlock()
	if err := f.enter(ctx, "Release"); err != nil {
		return err
	}
	c, ok := f.claims[key]
	if !ok {
		return nil
	}
	if c.Node != id {
		return fmt.Errorf("%w: %s holds %s", origin.ErrNotOwner, c.Node, key)
	}
	delete(f.claims, key)
	return nil
}

func (f *fakeStore) Origin(ctx context.Context, key stream.Key) (origin.Claim, error) {
	defer f.mu.Unlock()
	if err := f.enter(ctx, "Origin"); err != nil {
		return origin.Claim{}, err
	}
	c, ok := f.claims[key]
	if !ok {
		return origin.Claim{}, origin.ErrNoClaim
	}
	return c, nil
}

func (f *fakeStore) Claims(ctx context.Context, id node.ID) ([]origin.Claim, error) {
	defer f.mu.Unlock()
	if err := f.enter(ctx, "Claims"); err != nil {
		return nil, err
	}
	out := []origin.Claim{}
	for _, c := range f.claims {
		if id == "" || c.Node == id {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Stream.String() < out[j].Stream.String() })
	return out, nil
}

// StreamCatalog.

func (f *fakeStore) CreateBroadcast(ctx context.Context, b stream.Broadcast) error {
	defer f.mu.Unlock()
	if err := f.enter(ctx, "CreateBroadcast"); err != nil {
		return err
	}
	if _, ok := f.bcasts[b.Key]; ok {
		return fmt.Errorf("broadcast %s: %w", b.Key, ports.ErrConflict)
	}
	f.bcasts[b.Key] = b
	return nil
}

func (f *fakeStore) Broadcast(ctx context.Context, key stream.Key) (stream.Broadcast, error) {
	defer f.mu.Unlock()
	if err := f.enter(ctx, "Broadcast"); err != nil {
		return stream.Broadcast{}, err
	}
	b, ok := f.bcasts[key]
	if !ok {
		return stream.Broadcast{}, fmt.Errorf("broadcast %s: %w", key, ports.ErrNotFound)
	}
	return b, nil
}

func (f *fakeStore) UpdateBroadcast(ctx context.Context, key stream.Key, create bool, now time.Time, fn func(*stream.Broadcast) error) (stream.Broadcast, error) {
	defer f.mu.Unlock()
	if err := f.enter(ctx, "UpdateBroadcast"); err != nil {
		return stream.Broadcast{}, err
	}
	b, ok := f.bcasts[key]
	switch {
	case ok:
	case create:
		b = stream.NewBroadcast(key, now)
	default:
		return stream.Broadcast{}, fmt.Errorf("broadcast %s: %w", key, ports.ErrNotFound)
	}
	if err := fn(&b); err != nil {
		return stream.Broadcast{}, err
	}
	f.bcasts[key] = b
	return b, nil
}

func (f *fakeStore) DeleteBroadcast(ctx context.Context, key stream.Key) error {
	defer f.mu.Unlock()
	if err := f.enter(ctx, "DeleteBroadcast"); err != nil {
		return err
	}
	if _, ok := f.bcasts[key]; !ok {
		return fmt.Errorf("broadcast %s: %w", key, ports.ErrNotFound)
	}
	delete(f.bcasts, key)
	return nil
}

func (f *fakeStore) Broadcasts(ctx context.Context, q ports.ListQuery) ([]stream.Broadcast, int, error) {
	defer f.mu.Unlock()
	if err := f.enter(ctx, "Broadcasts"); err != nil {
		return nil, 0, err
	}
	var out []stream.Broadcast
	for _, b := range f.bcasts {
		if b.Key.App != q.App || (q.Status != "" && b.Status != q.Status) {
			continue
		}
		if q.Search != "" && !strings.Contains(string(b.Key.ID), q.Search) && !strings.Contains(b.Name, q.Search) {
			continue
		}
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key.ID < out[j].Key.ID })
	total := len(out)
	out = out[min(q.Offset, len(out)):]
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out, total, nil
}

func (f *fakeStore) LiveBroadcasts(ctx context.Context) ([]stream.Broadcast, error) {
	defer f.mu.Unlock()
	if err := f.enter(ctx, "LiveBroadcasts"); err != nil {
		return nil, err
	}
	out := []stream.Broadcast{}
	for _, b := range f.bcasts {
		if b.Live() {
			out = append(out, b)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key.String() < out[j].Key.String() })
	return out, nil
}

func (f *fakeStore) Ping(ctx context.Context) error {
	defer f.mu.Unlock()
	return f.enter(ctx, "Ping")
}

func (f *fakeStore) Close(context.Context) error { return nil }
