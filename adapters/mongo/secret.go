package mongo

import (
	"context"
	"errors"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// collSettings holds cluster-wide settings, one document per setting.
const collSettings = "settings"

// ClusterSecret returns the cluster's shared secret (which signs relay
// tokens between nodes), creating it with gen the first time. Concurrent
// callers all get the same secret: the first insert wins.
func (s *Store) ClusterSecret(ctx context.Context, gen func() (string, error)) (string, error) {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	coll := s.client.Database(s.cfg.Database).Collection(collSettings)
	var doc struct {
		Value string `bson:"value"`
	}
	err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: "cluster_secret"}}).Decode(&doc)
	if err == nil && doc.Value != "" {
		return doc.Value, nil
	}
	if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
		return "", s.fail("read cluster secret", err)
	}
	v, err := gen()
	if err != nil {
		return "", err
	}
	err = coll.FindOneAndUpdate(ctx,
		bson.D{{Key: "_id", Value: "cluster_secret"}},
		bson.D{{Key: "$setOnInsert", Value: bson.D{{Key: "value", Value: v}}}},
		options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.After),
	).Decode(&doc)
	if mongo.IsDuplicateKeyError(err) {
		err = coll.FindOne(ctx, bson.D{{Key: "_id", Value: "cluster_secret"}}).Decode(&doc)
	}
	if err != nil {
		return "", s.fail("write cluster secret", err)
	}
	return doc.Value, nil
}
