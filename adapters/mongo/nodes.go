package mongo

import (
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/colony-live/colony/core/node"
	"github.com/colony-live/colony/ports"
)

// Register inserts or replaces n.
func (s *Store) Register(ctx context.Context, n node.Node) error {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	d := toNodeDoc(n)
	_, err := s.nodes.ReplaceOne(ctx, bson.D{{Key: "_id", Value: d.ID}}, d, options.Replace().SetUpsert(true))
	return s.fail("register node "+d.ID, err)
}

// Heartbeat records id's load at now; ports.ErrNotFound if id is not registered.
func (s *Store) Heartbeat(ctx context.Context, id node.ID, load node.Load, now time.Time) error {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	op := "heartbeat of node " + string(id)
	res, err := s.nodes.UpdateOne(ctx, bson.D{{Key: "_id", Value: string(id)}}, bson.D{{Key: "$set", Value: bson.D{
		{Key: "load", Value: toLoadDoc(load)},
		{Key: "lastSeen", Value: dbTime(now)},
	}}})
	if err != nil {
		return s.fail(op, err)
	}
	if res.MatchedCount == 0 {
		return s.failAs(op, ports.ErrNotFound, errors.New("node is not registered"))
	}
	return nil
}

// Deregister removes id; an unknown id is not an error.
func (s *Store) Deregister(ctx context.Context, id node.ID) error {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	_, err := s.nodes.DeleteOne(ctx, bson.D{{Key: "_id", Value: string(id)}})
	return s.fail("deregister node "+string(id), err)
}

// Nodes lists every registered node ordered by id.
func (s *Store) Nodes(ctx context.Context) ([]node.Node, error) {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	cur, err := s.nodes.Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return nil, s.fail("list nodes", err)
	}
	var docs []nodeDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, s.fail("list nodes", err)
	}
	out := make([]node.Node, 0, len(docs))
	for _, d := range docs {
		out = append(out, d.node())
	}
	return out, nil
}

// PurgeNodes removes nodes last seen before cutoff and returns how many.
func (s *Store) PurgeNodes(ctx context.Context, cutoff time.Time) (int, error) {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	res, err := s.nodes.DeleteMany(ctx, bson.D{{Key: "lastSeen", Value: bson.D{{Key: "$lt", Value: dbTime(cutoff)}}}})
	if err != nil {
		return 0, s.fail("purge nodes", err)
	}
	return int(res.DeletedCount), nil
}
