package bbolt

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/colony-live/colony/core/node"
	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
)

// carrierRecord is a ports.Carrier as stored; its key is carrierKey.
type carrierRecord struct {
	Stream    string    `json:"stream"` // "app/id"
	Node      string    `json:"node"`
	Group     string    `json:"group"`
	RelayAddr string    `json:"relayAddr"`
	Upstream  string    `json:"upstream"`
	RenewedAt time.Time `json:"renewedAt"`
}

// carrierKey is "app/id#node": '#' is in no stream key, so the key is
// unambiguous, and it sorts below every character a stream id may hold,
// so keys sort by stream, then node.
func carrierKey(k stream.Key, id node.ID) []byte { return []byte(k.String() + "#" + string(id)) }

func encodeCarrier(c ports.Carrier) ([]byte, error) {
	return json.Marshal(carrierRecord{
		Stream: c.Stream.String(), Node: string(c.Node), Group: c.Group, RelayAddr: c.RelayAddr,
		Upstream: string(c.Upstream), RenewedAt: utc(c.RenewedAt),
	})
}

func decodeCarrier(data []byte) (ports.Carrier, error) {
	var r carrierRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return ports.Carrier{}, fmt.Errorf("decode carrier: %w", err)
	}
	k, err := parseKey(r.Stream)
	if err != nil {
		return ports.Carrier{}, err
	}
	return ports.Carrier{
		Stream: k, Node: node.ID(r.Node), Group: r.Group, RelayAddr: r.RelayAddr,
		Upstream: node.ID(r.Upstream), RenewedAt: utc(r.RenewedAt),
	}, nil
}

// AddCarrier inserts c, or replaces c.Node's record for c.Stream.
func (s *Store) AddCarrier(ctx context.Context, c ports.Carrier) error {
	if err := validKey(c.Stream); err != nil {
		return fmt.Errorf("bbolt: add carrier: %w", err)
	}
	if c.Node == "" {
		return fmt.Errorf("bbolt: add carrier of %s: empty node id", c.Stream)
	}
	data, err := encodeCarrier(c)
	if err != nil {
		return err
	}
	return s.update(ctx, "add carrier "+c.Stream.String(), func(tx *bolt.Tx) error {
		return tx.Bucket(bucketCarriers).Put(carrierKey(c.Stream, c.Node), data)
	})
}

// RenewCarriers renews every record of id at now and returns how many.
func (s *Store) RenewCarriers(ctx context.Context, id node.ID, now time.Time) (int, error) {
	var renewed int
	err := s.update(ctx, "renew carriers of "+string(id), func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketCarriers)
		mine, err := scanCarriers(b, func(c ports.Carrier) bool { return c.Node == id })
		if err != nil {
			return err
		}
		for _, c := range mine { // after the scan: no writes under ForEach
			c.RenewedAt = now
			data, err := encodeCarrier(c)
			if err != nil {
				return err
			}
			if err := b.Put(carrierKey(c.Stream, c.Node), data); err != nil {
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

// RemoveCarrier drops id's record for key; none is not an error.
func (s *Store) RemoveCarrier(ctx context.Context, key stream.Key, id node.ID) error {
	return s.update(ctx, "remove carrier "+key.String(), func(tx *bolt.Tx) error {
		return tx.Bucket(bucketCarriers).Delete(carrierKey(key, id))
	})
}

// Carriers lists the records of key (every stream for the zero key), only
// id's when id is set, ordered by stream then node.
func (s *Store) Carriers(ctx context.Context, key stream.Key, id node.ID) ([]ports.Carrier, error) {
	var out []ports.Carrier
	err := s.view(ctx, "carriers", func(tx *bolt.Tx) error {
		var err error
		out, err = scanCarriers(tx.Bucket(bucketCarriers), func(c ports.Carrier) bool {
			return (key == stream.Key{} || c.Stream == key) && (id == "" || c.Node == id)
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b ports.Carrier) int {
		return cmp.Or(cmp.Compare(a.Stream.String(), b.Stream.String()), cmp.Compare(a.Node, b.Node))
	})
	return out, nil
}

// PurgeCarriers removes the records renewed before cutoff and returns how many.
func (s *Store) PurgeCarriers(ctx context.Context, cutoff time.Time) (int, error) {
	var purged int
	err := s.update(ctx, "purge carriers", func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketCarriers)
		old, err := scanCarriers(b, func(c ports.Carrier) bool { return c.RenewedAt.Before(cutoff) })
		if err != nil {
			return err
		}
		for _, c := range old {
			if err := b.Delete(carrierKey(c.Stream, c.Node)); err != nil {
				return err
			}
		}
		purged = len(old)
		return nil
	})
	if err != nil {
		return 0, err
	}
	return purged, nil
}

// scanCarriers decodes the records of b that keep accepts.
func scanCarriers(b *bolt.Bucket, keep func(ports.Carrier) bool) ([]ports.Carrier, error) {
	out := []ports.Carrier{}
	err := b.ForEach(func(k, v []byte) error {
		c, err := decodeCarrier(v)
		if err != nil {
			return err
		}
		if !bytes.Equal(k, carrierKey(c.Stream, c.Node)) {
			return fmt.Errorf("corrupt carrier record under %q", k)
		}
		if keep(c) {
			out = append(out, c)
		}
		return nil
	})
	return out, err
}
