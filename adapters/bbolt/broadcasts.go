package bbolt

import (
	"bytes"
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
)

// CreateBroadcast inserts b; ports.ErrConflict if its key exists.
func (s *Store) CreateBroadcast(ctx context.Context, b stream.Broadcast) error {
	if err := validKey(b.Key); err != nil {
		return fmt.Errorf("bbolt: create broadcast: %w", err)
	}
	data, err := encodeBroadcast(b)
	if err != nil {
		return fmt.Errorf("bbolt: create broadcast %s: %w", b.Key, err)
	}
	return s.update(ctx, "create broadcast "+b.Key.String(), func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketBroadcasts)
		if bk.Get(keyBytes(b.Key)) != nil {
			return fmt.Errorf("broadcast %s exists: %w", b.Key, ports.ErrConflict)
		}
		return bk.Put(keyBytes(b.Key), data)
	})
}

// Broadcast returns the record for key, or ports.ErrNotFound.
func (s *Store) Broadcast(ctx context.Context, key stream.Key) (stream.Broadcast, error) {
	var b stream.Broadcast
	err := s.view(ctx, "broadcast "+key.String(), func(tx *bolt.Tx) error {
		data := tx.Bucket(bucketBroadcasts).Get(keyBytes(key))
		if data == nil {
			return fmt.Errorf("broadcast %s: %w", key, ports.ErrNotFound)
		}
		var err error
		b, err = decodeBroadcast(data)
		return err
	})
	if err != nil {
		return stream.Broadcast{}, err
	}
	return b, nil
}

// UpdateBroadcast reads, applies fn to and writes key's record in one write
// transaction, so concurrent updates never lose each other. fn runs inside
// that transaction: it must be quick and must not call the store. An error
// from fn (or fn changing the key) aborts the update and nothing is written.
func (s *Store) UpdateBroadcast(ctx context.Context, key stream.Key, create bool, now time.Time, fn func(*stream.Broadcast) error) (stream.Broadcast, error) {
	if err := validKey(key); err != nil {
		return stream.Broadcast{}, fmt.Errorf("bbolt: update broadcast: %w", err)
	}
	var out stream.Broadcast
	err := s.update(ctx, "update broadcast "+key.String(), func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketBroadcasts)
		var b stream.Broadcast
		switch data := bk.Get(keyBytes(key)); {
		case data != nil:
			var err error
			if b, err = decodeBroadcast(data); err != nil {
				return err
			}
		case create:
			b = stream.NewBroadcast(key, now)
		default:
			return fmt.Errorf("broadcast %s: %w", key, ports.ErrNotFound)
		}
		if err := fn(&b); err != nil {
			return err
		}
		if b.Key != key {
			return fmt.Errorf("update of %s changed its key to %s", key, b.Key)
		}
		data, err := encodeBroadcast(b)
		if err != nil {
			return err
		}
		out = b
		return bk.Put(keyBytes(key), data)
	})
	if err != nil {
		return stream.Broadcast{}, err
	}
	return out, nil
}

// DeleteBroadcast removes key's record; ports.ErrNotFound if there is none.
func (s *Store) DeleteBroadcast(ctx context.Context, key stream.Key) error {
	return s.update(ctx, "delete broadcast "+key.String(), func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketBroadcasts)
		if bk.Get(keyBytes(key)) == nil {
			return fmt.Errorf("broadcast %s: %w", key, ports.ErrNotFound)
		}
		return bk.Delete(keyBytes(key))
	})
}

// Broadcasts lists q.App's records matching q, and their count before paging.
//
// It reads every record of the app (keys "app/..." are contiguous) and
// filters, sorts and pages in Go: fine at standalone scale (thousands of
// broadcasts per app); the cluster store does this in the database.
func (s *Store) Broadcasts(ctx context.Context, q ports.ListQuery) ([]stream.Broadcast, int, error) {
	if _, err := stream.ParseApp(string(q.App)); err != nil {
		return nil, 0, fmt.Errorf("bbolt: list broadcasts: %w", err)
	}
	var matched []stream.Broadcast
	err := s.view(ctx, "list broadcasts of "+string(q.App), func(tx *bolt.Tx) error {
		prefix := []byte(string(q.App) + "/")
		c := tx.Bucket(bucketBroadcasts).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			b, err := decodeBroadcast(v)
			if err != nil {
				return err
			}
			if q.Match(b) {
				matched = append(matched, b)
			}
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	q.Sort(matched)
	return q.Page(matched), len(matched), nil
}

// LiveBroadcasts lists every broadcasting record of every app, ordered by key.
func (s *Store) LiveBroadcasts(ctx context.Context) ([]stream.Broadcast, error) {
	live := []stream.Broadcast{}
	err := s.view(ctx, "live broadcasts", func(tx *bolt.Tx) error {
		return tx.Bucket(bucketBroadcasts).ForEach(func(_, v []byte) error {
			b, err := decodeBroadcast(v)
			if err != nil {
				return err
			}
			if b.Live() {
				live = append(live, b)
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return live, nil
}
