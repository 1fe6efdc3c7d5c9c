package mongo

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"

	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
)

// retryPolicy bounds UpdateBroadcast's optimistic retries: up to attempts
// writes, with a jittered pause growing from 1 ms to maxBackoff between them.
type retryPolicy struct {
	attempts   int
	maxBackoff time.Duration
}

// defaultRetry lets 20 writers of one record all succeed on a slow server.
var defaultRetry = retryPolicy{attempts: 100, maxBackoff: 50 * time.Millisecond}

// CreateBroadcast inserts b; ports.ErrConflict if b.Key exists.
func (s *Store) CreateBroadcast(ctx context.Context, b stream.Broadcast) error {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	_, err := s.broadcasts.InsertOne(ctx, toBroadcastDoc(b, 1))
	if mongo.IsDuplicateKeyError(err) {
		return s.failAs("create broadcast "+b.Key.String(), ports.ErrConflict, err)
	}
	return s.fail("create broadcast "+b.Key.String(), err)
}

// Broadcast returns the record for key, or ports.ErrNotFound.
func (s *Store) Broadcast(ctx context.Context, key stream.Key) (stream.Broadcast, error) {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	d, err := s.findBroadcast(ctx, key)
	if err != nil {
		return stream.Broadcast{}, s.fail("broadcast "+key.String(), err)
	}
	return d.broadcast(), nil
}

func (s *Store) findBroadcast(ctx context.Context, key stream.Key) (broadcastDoc, error) {
	var d broadcastDoc
	err := s.broadcasts.FindOne(ctx, bson.D{{Key: "_id", Value: keyID(key)}}).Decode(&d)
	return d, err
}

// UpdateBroadcast applies fn to key's record with optimistic concurrency: it
// reads the record and its version, applies fn, and replaces the record only
// if the version is unchanged (or inserts it, with create, if it was
// missing), retrying from the read otherwise. fn's error is returned as is
// and nothing is written. After too many lost races: ports.ErrConflict.
func (s *Store) UpdateBroadcast(ctx context.Context, key stream.Key, create bool, now time.Time, fn func(*stream.Broadcast) error) (stream.Broadcast, error) {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	op := "update broadcast " + key.String()
	backoff := time.Millisecond
	for range s.retry.attempts {
		b, written, err := s.tryUpdate(ctx, key, create, now, fn)
		if err != nil || written {
			return b, err
		}
		// Lost a race: wait a little, then read again.
		select {
		case <-ctx.Done():
			return stream.Broadcast{}, s.fail(op, ctx.Err())
		case <-time.After(backoff/2 + rand.N(backoff/2+1)):
		}
		backoff = min(2*backoff, s.retry.maxBackoff)
	}
	return stream.Broadcast{}, s.failAs(op, ports.ErrConflict, errors.New("too many concurrent updates"))
}

// tryUpdate makes one read-modify-write attempt. written is false when a
// concurrent writer got there first.
func (s *Store) tryUpdate(ctx context.Context, key stream.Key, create bool, now time.Time, fn func(*stream.Broadcast) error) (b stream.Broadcast, written bool, err error) {
	op := "update broadcast " + key.String()
	d, err := s.findBroadcast(ctx, key)
	missing := errors.Is(err, mongo.ErrNoDocuments)
	switch {
	case missing && !create:
		return stream.Broadcast{}, false, s.fail(op, err)
	case missing:
		b = stream.NewBroadcast(key, now)
	case err != nil:
		return stream.Broadcast{}, false, s.fail(op, err)
	default:
		b = d.broadcast()
	}
	if err := fn(&b); err != nil {
		return stream.Broadcast{}, false, err
	}
	b.Key = key
	next := toBroadcastDoc(b, d.Version+1)
	if missing {
		_, err = s.broadcasts.InsertOne(ctx, next)
		if mongo.IsDuplicateKeyError(err) {
			return stream.Broadcast{}, false, nil
		}
	} else {
		var res *mongo.UpdateResult
		res, err = s.broadcasts.ReplaceOne(ctx, bson.D{{Key: "_id", Value: next.ID}, {Key: "version", Value: d.Version}}, next)
		if err == nil && res.MatchedCount == 0 {
			return stream.Broadcast{}, false, nil
		}
	}
	if err != nil {
		return stream.Broadcast{}, false, s.fail(op, err)
	}
	return next.broadcast(), true, nil
}

// DeleteBroadcast removes key's record; ports.ErrNotFound if there is none.
func (s *Store) DeleteBroadcast(ctx context.Context, key stream.Key) error {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	op := "delete broadcast " + key.String()
	res, err := s.broadcasts.DeleteOne(ctx, bson.D{{Key: "_id", Value: keyID(key)}})
	if err != nil {
		return s.fail(op, err)
	}
	if res.DeletedCount == 0 {
		return s.failAs(op, ports.ErrNotFound, errors.New("no such broadcast"))
	}
	return nil
}
