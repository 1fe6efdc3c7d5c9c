package portstest

import (
	"reflect"
	"testing"
	"time"

	"github.com/colony-live/colony/core/node"
	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
)

// carrier is the record of n carrying k (group g, pulling from origin o) renewed at t.
func carrier(k stream.Key, n node.ID, g string, o node.ID, t time.Time) ports.Carrier {
	return ports.Carrier{Stream: k, Node: n, Group: g, RelayAddr: string(n) + ":5000", Upstream: o, RenewedAt: t}
}

func normCarriers(cs []ports.Carrier) []ports.Carrier {
	out := make([]ports.Carrier, 0, len(cs))
	for _, c := range cs {
		c.RenewedAt = normTime(c.RenewedAt)
		out = append(out, c)
	}
	return out
}

func mustAddCarrier(t *testing.T, s ports.StreamRelays, cs ...ports.Carrier) {
	t.Helper()
	for _, c := range cs {
		if err := s.AddCarrier(ctx(t), c); err != nil {
			t.Fatalf("AddCarrier %s by %s: %v", c.Stream, c.Node, err)
		}
	}
}

// assertCarriers checks Carriers(k, id), order included.
func assertCarriers(t *testing.T, s ports.StreamRelays, k stream.Key, id node.ID, want ...ports.Carrier) {
	t.Helper()
	got, err := s.Carriers(ctx(t), k, id)
	if err != nil {
		t.Fatalf("Carriers(%q, %q): %v", k, id, err)
	}
	if g, w := normCarriers(got), normCarriers(want); !reflect.DeepEqual(g, w) {
		t.Fatalf("Carriers(%q, %q):\n got  %+v\n want %+v", k, id, g, w)
	}
}

func runCarriers(t *testing.T, open func(t *testing.T) ports.Store) {
	k1, k2, k3 := key("live", "s1"), key("live", "s1.x"), key("app2", "s1")
	all := stream.Key{}

	t.Run("None", func(t *testing.T) {
		s := open(t)
		assertCarriers(t, s, all, "")
		assertCarriers(t, s, k1, "")
		assertCarriers(t, s, all, "n1")
	})

	t.Run("AddAndList", func(t *testing.T) {
		s := open(t)
		a := carrier(k1, "n2", "eu", "o1", at(0))
		b := carrier(k1, "n1", "eu", "o1", at(time.Second))
		c := carrier(k2, "n1", "us", "o2", at(0))
		d := carrier(k3, "n3", "eu", "o1", at(0))
		mustAddCarrier(t, s, a, b, c, d)
		assertCarriers(t, s, all, "", d, b, a, c) // app2/s1, live/s1 (n1, n2), live/s1.x
		assertCarriers(t, s, k1, "", b, a)
		assertCarriers(t, s, k2, "", c)
		assertCarriers(t, s, all, "n1", b, c)
		assertCarriers(t, s, k1, "n2", a)
		assertCarriers(t, s, k2, "n2")
		assertCarriers(t, s, key("live", "s9"), "")
	})

	t.Run("AddReplaces", func(t *testing.T) {
		s := open(t)
		mustAddCarrier(t, s, carrier(k1, "n1", "eu", "o1", at(0)))
		next := carrier(k1, "n1", "eu", "o2", at(time.Minute))
		next.RelayAddr = "10.0.0.9:5000"
		mustAddCarrier(t, s, next)
		assertCarriers(t, s, all, "", next)
	})

	t.Run("Renew", func(t *testing.T) {
		s := open(t)
		a := carrier(k1, "n1", "eu", "o1", at(0))
		b := carrier(k2, "n1", "eu", "o1", at(time.Second))
		other := carrier(k1, "n2", "eu", "o1", at(0))
		mustAddCarrier(t, s, a, b, other)
		now := at(15 * time.Second)
		if n, err := s.RenewCarriers(ctx(t), "n1", now); err != nil || n != 2 {
			t.Fatalf("RenewCarriers(n1) = %d, %v; want 2, nil", n, err)
		}
		a.RenewedAt, b.RenewedAt = now, now
		assertCarriers(t, s, all, "", a, other, b)
		if n, err := s.RenewCarriers(ctx(t), "n9", now); err != nil || n != 0 {
			t.Fatalf("RenewCarriers(n9) = %d, %v; want 0, nil", n, err)
		}
		assertCarriers(t, s, all, "", a, other, b)
	})

	t.Run("Remove", func(t *testing.T) {
		s := open(t)
		a := carrier(k1, "n1", "eu", "o1", at(0))
		b := carrier(k1, "n2", "eu", "o1", at(0))
		c := carrier(k2, "n1", "eu", "o1", at(0))
		mustAddCarrier(t, s, a, b, c)
		if err := s.RemoveCarrier(ctx(t), k1, "n1"); err != nil {
			t.Fatalf("RemoveCarrier: %v", err)
		}
		assertCarriers(t, s, all, "", b, c)
		for _, x := range []struct {
			k stream.Key
			n node.ID
		}{{k1, "n1"}, {k3, "n1"}, {k1, "n9"}} {
			if err := s.RemoveCarrier(ctx(t), x.k, x.n); err != nil {
				t.Fatalf("RemoveCarrier(%s, %s) with no record: %v, want nil", x.k, x.n, err)
			}
		}
		assertCarriers(t, s, all, "", b, c)
	})

	t.Run("Purge", func(t *testing.T) {
		s := open(t)
		old := carrier(k1, "n1", "eu", "o1", at(0))
		edge := carrier(k2, "n1", "eu", "o1", at(time.Minute))
		fresh := carrier(k1, "n2", "eu", "o1", at(2*time.Minute))
		mustAddCarrier(t, s, old, edge, fresh)
		n, err := s.PurgeCarriers(ctx(t), at(time.Minute)) // renewed exactly at the cutoff: kept
		if err != nil || n != 1 {
			t.Fatalf("PurgeCarriers = %d, %v; want 1, nil", n, err)
		}
		assertCarriers(t, s, all, "", fresh, edge)
		if n, err := s.PurgeCarriers(ctx(t), at(0)); err != nil || n != 0 {
			t.Fatalf("PurgeCarriers again = %d, %v; want 0, nil", n, err)
		}
	})

	t.Run("Stale", func(t *testing.T) {
		c := carrier(k1, "n1", "eu", "o1", at(0))
		if c.Stale(at(staleAfter), staleAfter) || !c.Stale(at(staleAfter+time.Millisecond), staleAfter) {
			t.Fatal("Carrier.Stale does not match origin.Claim.Stale")
		}
	})
}
