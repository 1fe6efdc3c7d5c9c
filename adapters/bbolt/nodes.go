package bbolt

import (
	"context"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/colony-live/colony/core/node"
	"github.com/colony-live/colony/ports"
)

// Register inserts or replaces n.
func (s *Store) Register(ctx context.Context, n node.Node) error {
	if n.ID == "" {
		return errors.New("bbolt: register: empty node id")
	}
	data, err := encodeNode(n)
	if err != nil {
		return fmt.Errorf("bbolt: register %s: %w", n.ID, err)
	}
	return s.update(ctx, "register "+string(n.ID), func(tx *bolt.Tx) error {
		return tx.Bucket(bucketNodes).Put([]byte(n.ID), data)
	})
}

// Heartbeat stores load and now as id's last heartbeat; ports.ErrNotFound if id is not registered.
func (s *Store) Heartbeat(ctx context.Context, id node.ID, load node.Load, now time.Time) error {
	return s.update(ctx, "heartbeat "+string(id), func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketNodes)
		data := b.Get([]byte(id))
		if data == nil {
			return fmt.Errorf("node %s: %w", id, ports.ErrNotFound)
		}
		n, err := decodeNode(data)
		if err != nil {
			return err
		}
		n.Load, n.LastSeen = load, now
		if data, err = encodeNode(n); err != nil {
			return err
		}
		return b.Put([]byte(id), data)
	})
}

// Deregister removes id; an unknown id is not an error.
func (s *Store) Deregister(ctx context.Context, id node.ID) error {
	return s.update(ctx, "deregister "+string(id), func(tx *bolt.Tx) error {
		return tx.Bucket(bucketNodes).Delete([]byte(id))
	})
}

// Nodes lists every node ordered by id (bbolt keeps keys sorted).
func (s *Store) Nodes(ctx context.Context) ([]node.Node, error) {
	nodes := []node.Node{}
	err := s.view(ctx, "nodes", func(tx *bolt.Tx) error {
		return tx.Bucket(bucketNodes).ForEach(func(_, v []byte) error {
			n, err := decodeNode(v)
			if err != nil {
				return err
			}
			nodes = append(nodes, n)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return nodes, nil
}

// PurgeNodes removes the nodes last seen before cutoff and returns how many.
func (s *Store) PurgeNodes(ctx context.Context, cutoff time.Time) (int, error) {
	var purged int
	err := s.update(ctx, "purge nodes", func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketNodes)
		var dead [][]byte
		err := b.ForEach(func(k, v []byte) error {
			n, err := decodeNode(v)
			if err != nil {
				return err
			}
			if n.LastSeen.Before(cutoff) {
				dead = append(dead, k) // valid until the transaction ends
			}
			return nil
		})
		if err != nil {
			return err
		}
		// Delete after the scan: deleting under a cursor skips keys.
		for _, k := range dead {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		purged = len(dead)
		return nil
	})
	if err != nil {
		return 0, err
	}
	return purged, nil
}
