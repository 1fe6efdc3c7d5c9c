package bbolt

import (
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/colony-live/colony/core/node"
	"github.com/colony-live/colony/core/origin"
	"github.com/colony-live/colony/core/stream"
)

// Claim applies origin.Decide to the stored claim on c.Stream, with
// c.RenewedAt as now, inside one write transaction: bbolt serialises writers,
// so of concurrent claimants exactly one wins.
func (s *Store) Claim(ctx context.Context, c origin.Claim, staleAfter time.Duration) (origin.Claim, error) {
	if err := validKey(c.Stream); err != nil {
		return origin.Claim{}, fmt.Errorf("bbolt: claim: %w", err)
	}
	if c.Node == "" {
		return origin.Claim{}, fmt.Errorf("bbolt: claim %s: empty node id", c.Stream)
	}
	var won origin.Claim
	err := s.update(ctx, "claim "+c.Stream.String(), func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketClaims)
		var existing *origin.Claim
		if data := b.Get(keyBytes(c.Stream)); data != nil {
			cur, err := decodeClaim(data)
			if err != nil {
				return err
			}
			existing = &cur
		}
		next, err := origin.Decide(existing, c.Node, c.RelayAddr, c.Stream, c.RenewedAt, staleAfter)
		if err != nil {
			return err
		}
		data, err := encodeClaim(next)
		if err != nil {
			return err
		}
		won = next
		return b.Put(keyBytes(c.Stream), data)
	})
	if err != nil {
		return origin.Claim{}, err
	}
	return won, nil
}

// RenewClaims renews every claim held by id at now and returns how many.
func (s *Store) RenewClaims(ctx context.Context, id node.ID, now time.Time) (int, error) {
	var renewed int
	err := s.update(ctx, "renew claims of "+string(id), func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketClaims)
		var mine []origin.Claim
		err := b.ForEach(func(_, v []byte) error {
			c, err := decodeClaim(v)
			if err != nil {
				return err
			}
			if c.Node == id {
				mine = append(mine, c)
			}
			return nil
		})
		if err != nil {
			return err
		}
		// Write after the scan: bbolt forbids changing a bucket under ForEach.
		for _, c := range mine {
			c.RenewedAt = now
			data, err := encodeClaim(c)
			if err != nil {
				return err
			}
			if err := b.Put(keyBytes(c.Stream), data); err != nil {
				return err
			}
		}
		renewed = len(mine)
		return nil
	})
	if err != nil {
		return 0, err
	}
	return renewed, nil
}

// Release drops id's claim on key: no claim is not an error, another node's
// claim gives origin.ErrNotOwner and is kept.
func (s *Store) Release(ctx context.Context, key stream.Key, id node.ID) error {
	return s.update(ctx, "release "+key.String(), func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketClaims)
		data := b.Get(keyBytes(key))
		if data == nil {
			return nil
		}
		c, err := decodeClaim(data)
		if err != nil {
			return err
		}
		if c.Node != id {
			return fmt.Errorf("%w: %s holds %s, not %s", origin.ErrNotOwner, c.Node, key, id)
		}
		return b.Delete(keyBytes(key))
	})
}

// Origin returns the claim on key, or origin.ErrNoClaim.
func (s *Store) Origin(ctx context.Context, key stream.Key) (origin.Claim, error) {
	var c origin.Claim
	err := s.view(ctx, "origin "+key.String(), func(tx *bolt.Tx) error {
		data := tx.Bucket(bucketClaims).Get(keyBytes(key))
		if data == nil {
			return origin.ErrNoClaim
		}
		var err error
		c, err = decodeClaim(data)
		return err
	})
	if err != nil {
		return origin.Claim{}, err
	}
	return c, nil
}

// Claims lists the claims held by id, or every claim when id is empty, ordered by stream.
func (s *Store) Claims(ctx context.Context, id node.ID) ([]origin.Claim, error) {
	claims := []origin.Claim{}
	err := s.view(ctx, "claims", func(tx *bolt.Tx) error {
		return tx.Bucket(bucketClaims).ForEach(func(_, v []byte) error {
			c, err := decodeClaim(v)
			if err != nil {
				return err
			}
			if id == "" || c.Node == id {
				claims = append(claims, c)
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return claims, nil
}

// validKey refuses a key that did not come from stream.ParseKey.
func validKey(k stream.Key) error {
	if _, err := stream.ParseKey(string(k.App), string(k.ID)); err != nil {
		return err
	}
	return nil
}
