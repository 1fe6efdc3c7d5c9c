package portstest

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/colony-live/colony/core/node"
	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
)

// carrierID keys MemStore's carrier records.
type carrierID struct {
	key  stream.Key
	node node.ID
}

func (m *MemStore) AddCarrier(ctx context.Context, c ports.Carrier) error {
	if err := m.lock(ctx, "AddCarrier"); err != nil {
		return err
	}
	defer m.mu.Unlock()
	m.carriers[carrierID{c.Stream, c.Node}] = c
	return nil
}

func (m *MemStore) RenewCarriers(ctx context.Context, id node.ID, now time.Time) (int, error) {
	if err := m.lock(ctx, "RenewCarriers"); err != nil {
		return 0, err
	}
	defer m.mu.Unlock()
	n := 0
	for k, c := range m.carriers {
		if c.Node == id {
			c.RenewedAt = now
			m.carriers[k] = c
			n++
		}
	}
	return n, nil
}

func (m *MemStore) RemoveCarrier(ctx context.Context, key stream.Key, id node.ID) error {
	if err := m.lock(ctx, "RemoveCarrier"); err != nil {
		return err
	}
	defer m.mu.Unlock()
	delete(m.carriers, carrierID{key, id})
	return nil
}

func (m *MemStore) Carriers(ctx context.Context, key stream.Key, id node.ID) ([]ports.Carrier, error) {
	if err := m.lock(ctx, "Carriers"); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	var out []ports.Carrier
	for _, c := range m.carriers {
		if (key == stream.Key{} || c.Stream == key) && (id == "" || c.Node == id) {
			out = append(out, c)
		}
	}
	sortCarriers(out)
	return out, nil
}

func (m *MemStore) PurgeCarriers(ctx context.Context, cutoff time.Time) (int, error) {
	if err := m.lock(ctx, "PurgeCarriers"); err != nil {
		return 0, err
	}
	defer m.mu.Unlock()
	n := 0
	for k, c := range m.carriers {
		if c.RenewedAt.Before(cutoff) {
			delete(m.carriers, k)
			n++
		}
	}
	return n, nil
}

// CarrierRecords returns every carrier record, directly, ordered by stream then node.
func (m *MemStore) CarrierRecords() []ports.Carrier {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]ports.Carrier, 0, len(m.carriers))
	for _, c := range m.carriers {
		out = append(out, c)
	}
	sortCarriers(out)
	return out
}

// PutCarrier stores c directly.
func (m *MemStore) PutCarrier(c ports.Carrier) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.carriers[carrierID{c.Stream, c.Node}] = c
}

// sortCarriers orders cs by stream, then node.
func sortCarriers(cs []ports.Carrier) {
	slices.SortFunc(cs, func(a, b ports.Carrier) int {
		return cmp.Or(cmp.Compare(a.Stream.String(), b.Stream.String()), cmp.Compare(a.Node, b.Node))
	})
}
