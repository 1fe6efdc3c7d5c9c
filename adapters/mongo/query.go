package mongo

import (
	"context"
	"regexp"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
)

// Broadcasts lists the records matching q, and how many match before paging.
func (s *Store) Broadcasts(ctx context.Context, q ports.ListQuery) ([]stream.Broadcast, int, error) {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	const op = "list broadcasts"
	filter := listFilter(q)
	total, err := s.broadcasts.CountDocuments(ctx, filter)
	if err != nil {
		return nil, 0, s.fail(op, err)
	}
	opts := options.Find().SetSort(listSort(q))
	if q.Offset > 0 {
		opts.SetSkip(int64(q.Offset))
	}
	if q.Limit > 0 {
		opts.SetLimit(int64(q.Limit))
	}
	out, err := s.findBroadcasts(ctx, filter, opts)
	if err != nil {
		return nil, 0, s.fail(op, err)
	}
	return out, int(total), nil
}

// LiveBroadcasts lists every broadcasting record of every app, ordered by key.
func (s *Store) LiveBroadcasts(ctx context.Context) ([]stream.Broadcast, error) {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	filter := bson.D{{Key: "status", Value: string(stream.StatusBroadcasting)}}
	out, err := s.findBroadcasts(ctx, filter, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return nil, s.fail("list live broadcasts", err)
	}
	return out, nil
}

func (s *Store) findBroadcasts(ctx context.Context, filter bson.D, opts *options.FindOptions) ([]stream.Broadcast, error) {
	cur, err := s.broadcasts.Find(ctx, filter, opts)
	if err != nil {
		return nil, err
	}
	var docs []broadcastDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, err
	}
	out := make([]stream.Broadcast, 0, len(docs))
	for _, d := range docs {
		out = append(out, d.broadcast())
	}
	return out, nil
}

// listFilter selects q's app, status and search (a literal, case-sensitive
// substring of the stream id or the name).
func listFilter(q ports.ListQuery) bson.D {
	f := bson.D{{Key: "app", Value: string(q.App)}}
	if q.Status != "" {
		f = append(f, bson.E{Key: "status", Value: string(q.Status)})
	}
	if q.Search != "" {
		re := primitive.Regex{Pattern: regexp.QuoteMeta(q.Search)}
		f = append(f, bson.E{Key: "$or", Value: bson.A{
			bson.D{{Key: "streamId", Value: re}},
			bson.D{{Key: "name", Value: re}},
		}})
	}
	return f
}

// listSort orders by q.SortBy ("name", "date", "status"; creation order by
// default), ties broken by creation time and then id.
func listSort(q ports.ListQuery) bson.D {
	dir := 1
	if q.Desc {
		dir = -1
	}
	var field string
	switch q.SortBy {
	case "name":
		field = "name"
	case "status":
		field = "status"
	default: // "date" and the creation order
		field = "createdAt"
	}
	sort := bson.D{{Key: field, Value: dir}}
	if field != "createdAt" {
		sort = append(sort, bson.E{Key: "createdAt", Value: dir})
	}
	return append(sort, bson.E{Key: "_id", Value: dir})
}
