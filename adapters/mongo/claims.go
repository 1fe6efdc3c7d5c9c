package mongo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/colony-live/colony/core/node"
	"github.com/colony-live/colony/core/origin"
	"github.com/colony-live/colony/core/stream"
)

// claimAttempts bounds Claim's retries when the claim changes hands between
// its steps (a release or a same-node claim running at the same time).
const claimAttempts = 5

// Claim makes c.Node the origin of c.Stream at c.RenewedAt following
// origin.Decide, atomically and without transactions:
//
//  1. the claimant's own claim is renewed in place (ClaimedAt kept);
//  2. otherwise one FindOneAndUpdate with upsert, filtered on the stream and
//     on a stale renewal time, takes over a stale claim or inserts a new one;
//  3. if that insert hits the unique _id (E11000), another node holds a
//     fresh claim: *origin.TakenError names it.
//
// Each step is one atomic document operation, so of concurrent claimants
// exactly one wins.
func (s *Store) Claim(ctx context.Context, c origin.Claim, staleAfter time.Duration) (origin.Claim, error) {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	op := fmt.Sprintf("claim %s for node %s", c.Stream, c.Node)
	now := dbTime(c.RenewedAt) // as stored, so that the filter and Decide agree
	want := toClaimDoc(origin.Claim{Stream: c.Stream, Node: c.Node, RelayAddr: c.RelayAddr, ClaimedAt: now, RenewedAt: now})
	after := options.FindOneAndUpdate().SetReturnDocument(options.After)
	for range claimAttempts {
		// 1. Our own claim: renew it, keep ClaimedAt.
		var got claimDoc
		err := s.claims.FindOneAndUpdate(ctx,
			bson.D{{Key: "_id", Value: want.ID}, {Key: "node", Value: want.Node}},
			bson.D{{Key: "$set", Value: bson.D{
				{Key: "relayAddr", Value: want.RelayAddr},
				{Key: "renewedAt", Value: want.RenewedAt},
			}}},
			after).Decode(&got)
		if err == nil {
			return got.claim(), nil
		}
		if !errors.Is(err, mongo.ErrNoDocuments) {
			return origin.Claim{}, s.fail(op, err)
		}

		// 2. No claim, or a stale one: take it. A fresh claim fails the
		// filter, so the upsert inserts and hits E11000. (Our own claim, if
		// it appeared since step 1, fails it too and is renewed next round.)
		cutoff := dbTime(now.Add(-staleAfter))
		err = s.claims.FindOneAndUpdate(ctx,
			bson.D{
				{Key: "_id", Value: want.ID},
				{Key: "renewedAt", Value: bson.D{{Key: "$lt", Value: cutoff}}},
			},
			bson.D{{Key: "$set", Value: bson.D{
				{Key: "app", Value: want.App},
				{Key: "streamId", Value: want.StreamID},
				{Key: "node", Value: want.Node},
				{Key: "relayAddr", Value: want.RelayAddr},
				{Key: "claimedAt", Value: want.ClaimedAt},
				{Key: "renewedAt", Value: want.RenewedAt},
			}}},
			options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.After)).Decode(&got)
		if err == nil {
			return got.claim(), nil
		}
		if !mongo.IsDuplicateKeyError(err) {
			return origin.Claim{}, s.fail(op, err)
		}

		// 3. Someone else holds it.
		holder, err := s.findClaim(ctx, c.Stream)
		switch {
		case errors.Is(err, origin.ErrNoClaim):
			continue // released meanwhile: try again
		case err != nil:
			return origin.Claim{}, s.fail(op, err)
		case holder.Node == c.Node:
			continue // our own concurrent claim: renew it
		}
		if _, err := origin.Decide(&holder, c.Node, c.RelayAddr, c.Stream, now, staleAfter); err != nil {
			return origin.Claim{}, err
		}
		// Stale by now although the filter missed it: a concurrent takeover
		// renewed it in between; try again.
	}
	return origin.Claim{}, s.fail(op, errors.New("claim kept changing hands; giving up"))
}

// RenewClaims renews every claim held by id at now and returns how many.
func (s *Store) RenewClaims(ctx context.Context, id node.ID, now time.Time) (int, error) {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	res, err := s.claims.UpdateMany(ctx,
		bson.D{{Key: "node", Value: string(id)}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "renewedAt", Value: dbTime(now)}}}})
	if err != nil {
		return 0, s.fail("renew claims of node "+string(id), err)
	}
	return int(res.MatchedCount), nil
}

// Release drops id's claim on key. No claim is not an error; another node's
// claim gives origin.ErrNotOwner and is kept.
func (s *Store) Release(ctx context.Context, key stream.Key, id node.ID) error {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	op := fmt.Sprintf("release %s by node %s", key, id)
	res, err := s.claims.DeleteOne(ctx, bson.D{{Key: "_id", Value: keyID(key)}, {Key: "node", Value: string(id)}})
	if err != nil {
		return s.fail(op, err)
	}
	if res.DeletedCount > 0 {
		return nil
	}
	holder, err := s.findClaim(ctx, key)
	switch {
	case errors.Is(err, origin.ErrNoClaim):
		return nil
	case err != nil:
		return s.fail(op, err)
	}
	return fmt.Errorf("%w: %s holds %s", origin.ErrNotOwner, holder.Node, key)
}

// Origin returns the claim on key, or origin.ErrNoClaim.
func (s *Store) Origin(ctx context.Context, key stream.Key) (origin.Claim, error) {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	c, err := s.findClaim(ctx, key)
	if err != nil && !errors.Is(err, origin.ErrNoClaim) {
		return origin.Claim{}, s.fail("origin of "+key.String(), err)
	}
	return c, err
}

// findClaim reads key's claim: origin.ErrNoClaim when there is none, a raw
// driver error otherwise.
func (s *Store) findClaim(ctx context.Context, key stream.Key) (origin.Claim, error) {
	var d claimDoc
	err := s.claims.FindOne(ctx, bson.D{{Key: "_id", Value: keyID(key)}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return origin.Claim{}, fmt.Errorf("%w: %s", origin.ErrNoClaim, key)
	}
	if err != nil {
		return origin.Claim{}, err
	}
	return d.claim(), nil
}

// Claims lists the claims held by id, or all claims when id is empty, ordered by stream.
func (s *Store) Claims(ctx context.Context, id node.ID) ([]origin.Claim, error) {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	filter := bson.D{}
	if id != "" {
		filter = bson.D{{Key: "node", Value: string(id)}}
	}
	cur, err := s.claims.Find(ctx, filter, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return nil, s.fail("list claims", err)
	}
	var docs []claimDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, s.fail("list claims", err)
	}
	out := make([]origin.Claim, 0, len(docs))
	for _, d := range docs {
		out = append(out, d.claim())
	}
	return out, nil
}
