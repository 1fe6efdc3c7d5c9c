package mongo

import (
	"context"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/colony-live/colony/core/node"
	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
)

// carrierDoc records that a node carries a stream for its group; _id is
// "app/id#node" ('#' is in no stream key, and sorts below every character
// one may hold, so _id order is stream, then node).
type carrierDoc struct {
	ID        string    `bson:"_id"`
	Stream    string    `bson:"stream"` // "app/id"
	App       string    `bson:"app"`
	StreamID  string    `bson:"streamId"`
	Node      string    `bson:"node"`
	Group     string    `bson:"group"`
	RelayAddr string    `bson:"relayAddr"`
	Upstream  string    `bson:"upstream"`
	RenewedAt time.Time `bson:"renewedAt"`
}

func carrierID(k stream.Key, id node.ID) string { return keyID(k) + "#" + string(id) }

func toCarrierDoc(c ports.Carrier) carrierDoc {
	return carrierDoc{
		ID: carrierID(c.Stream, c.Node), Stream: keyID(c.Stream), App: string(c.Stream.App), StreamID: string(c.Stream.ID),
		Node: string(c.Node), Group: c.Group, RelayAddr: c.RelayAddr, Upstream: string(c.Upstream), RenewedAt: dbTime(c.RenewedAt),
	}
}

func (d carrierDoc) carrier() ports.Carrier {
	return ports.Carrier{
		Stream: stream.Key{App: stream.App(d.App), ID: stream.ID(d.StreamID)},
		Node:   node.ID(d.Node), Group: d.Group, RelayAddr: d.RelayAddr, Upstream: node.ID(d.Upstream),
		RenewedAt: goTime(d.RenewedAt),
	}
}

// AddCarrier inserts c, or replaces c.Node's record for c.Stream (one
// ReplaceOne with upsert).
func (s *Store) AddCarrier(ctx context.Context, c ports.Carrier) error {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	d := toCarrierDoc(c)
	_, err := s.carriers.ReplaceOne(ctx, bson.D{{Key: "_id", Value: d.ID}}, d, options.Replace().SetUpsert(true))
	return s.fail("add carrier "+d.ID, err)
}

// RenewCarriers renews every record of id at now and returns how many.
func (s *Store) RenewCarriers(ctx context.Context, id node.ID, now time.Time) (int, error) {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	res, err := s.carriers.UpdateMany(ctx,
		bson.D{{Key: "node", Value: string(id)}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "renewedAt", Value: dbTime(now)}}}})
	if err != nil {
		return 0, s.fail("renew carriers of node "+string(id), err)
	}
	return int(res.MatchedCount), nil
}

// RemoveCarrier drops id's record for key; none is not an error.
func (s *Store) RemoveCarrier(ctx context.Context, key stream.Key, id node.ID) error {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	_, err := s.carriers.DeleteOne(ctx, bson.D{{Key: "_id", Value: carrierID(key, id)}})
	return s.fail("remove carrier "+carrierID(key, id), err)
}

// Carriers lists the records of key (every stream for the zero key), only
// id's when id is set, ordered by stream then node.
func (s *Store) Carriers(ctx context.Context, key stream.Key, id node.ID) ([]ports.Carrier, error) {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	filter := bson.D{}
	if key != (stream.Key{}) {
		filter = append(filter, bson.E{Key: "stream", Value: keyID(key)})
	}
	if id != "" {
		filter = append(filter, bson.E{Key: "node", Value: string(id)})
	}
	cur, err := s.carriers.Find(ctx, filter, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return nil, s.fail("list carriers", err)
	}
	var docs []carrierDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, s.fail("list carriers", err)
	}
	out := make([]ports.Carrier, 0, len(docs))
	for _, d := range docs {
		out = append(out, d.carrier())
	}
	return out, nil
}

// PurgeCarriers removes the records renewed before cutoff and returns how many.
func (s *Store) PurgeCarriers(ctx context.Context, cutoff time.Time) (int, error) {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	res, err := s.carriers.DeleteMany(ctx, bson.D{{Key: "renewedAt", Value: bson.D{{Key: "$lt", Value: dbTime(cutoff)}}}})
	if err != nil {
		return 0, s.fail("purge carriers", err)
	}
	return int(res.DeletedCount), nil
}
