package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/colony-live/colony/core/node"
	"github.com/colony-live/colony/core/origin"
	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
)

// Store counts and times every call of a ports.Store: colony_store_ops_total
// and colony_store_op_seconds, labelled by operation. It changes nothing else.
type Store struct {
	ports.Store
	ops *prometheus.CounterVec
	dur *prometheus.HistogramVec
}

// InstrumentStore wraps s and registers its metrics in r.
func (r *Registry) InstrumentStore(s ports.Store) *Store {
	ops := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "colony", Name: "store_ops_total", Help: "Store (registry) calls by operation."}, []string{"op"})
	dur := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "colony", Name: "store_op_seconds", Help: "Store call latency by operation.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1, 5}}, []string{"op"})
	r.reg.MustRegister(ops, dur)
	return &Store{Store: s, ops: ops, dur: dur}
}

func (s *Store) observe(op string, start time.Time) {
	s.ops.WithLabelValues(op).Inc()
	s.dur.WithLabelValues(op).Observe(time.Since(start).Seconds())
}

func (s *Store) Register(ctx context.Context, n node.Node) error {
	defer s.observe("register", time.Now())
	return s.Store.Register(ctx, n)
}

func (s *Store) Heartbeat(ctx context.Context, id node.ID, load node.Load, now time.Time) error {
	defer s.observe("heartbeat", time.Now())
	return s.Store.Heartbeat(ctx, id, load, now)
}

func (s *Store) Deregister(ctx context.Context, id node.ID) error {
	defer s.observe("deregister", time.Now())
	return s.Store.Deregister(ctx, id)
}

func (s *Store) Nodes(ctx context.Context) ([]node.Node, error) {
	defer s.observe("nodes", time.Now())
	return s.Store.Nodes(ctx)
}

func (s *Store) PurgeNodes(ctx context.Context, cutoff time.Time) (int, error) {
	defer s.observe("purge_nodes", time.Now())
	return s.Store.PurgeNodes(ctx, cutoff)
}

func (s *Store) Claim(ctx context.Context, c origin.Claim, staleAfter time.Duration) (origin.Claim, error) {
	defer s.observe("claim", time.Now())
	return s.Store.Claim(ctx, c, staleAfter)
}

func (s *Store) RenewClaims(ctx context.Context, id node.ID, now time.Time) (int, error) {
	defer s.observe("renew_claims", time.Now())
	return s.Store.RenewClaims(ctx, id, now)
}

func (s *Store) Release(ctx context.Context, key stream.Key, id node.ID) error {
	defer s.observe("release", time.Now())
	return s.Store.Release(ctx, key, id)
}

func (s *Store) Origin(ctx context.Context, key stream.Key) (origin.Claim, error) {
	defer s.observe("origin", time.Now())
	return s.Store.Origin(ctx, key)
}

func (s *Store) Claims(ctx context.Context, id node.ID) ([]origin.Claim, error) {
	defer s.observe("claims", time.Now())
	return s.Store.Claims(ctx, id)
}

func (s *Store) CreateBroadcast(ctx context.Context, b stream.Broadcast) error {
	defer s.observe("create_broadcast", time.Now())
	return s.Store.CreateBroadcast(ctx, b)
}

func (s *Store) Broadcast(ctx context.Context, key stream.Key) (stream.Broadcast, error) {
	defer s.observe("broadcast", time.Now())
	return s.Store.Broadcast(ctx, key)
}

func (s *Store) UpdateBroadcast(ctx context.Context, key stream.Key, create bool, now time.Time, fn func(*stream.Broadcast) error) (stream.Broadcast, error) {
	defer s.observe("update_broadcast", time.Now())
	return s.Store.UpdateBroadcast(ctx, key, create, now, fn)
}

func (s *Store) DeleteBroadcast(ctx context.Context, key stream.Key) error {
	defer s.observe("delete_broadcast", time.Now())
	return s.Store.DeleteBroadcast(ctx, key)
}

func (s *Store) Broadcasts(ctx context.Context, q ports.ListQuery) ([]stream.Broadcast, int, error) {
	defer s.observe("broadcasts", time.Now())
	return s.Store.Broadcasts(ctx, q)
}

func (s *Store) LiveBroadcasts(ctx context.Context) ([]stream.Broadcast, error) {
	defer s.observe("live_broadcasts", time.Now())
	return s.Store.LiveBroadcasts(ctx)
}
