package portstest

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/colony-live/colony/core/node"
	"github.com/colony-live/colony/core/origin"
	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
)

// staleAfter is the claim lifetime the suite passes to Claim.
const staleAfter = 20 * time.Second

func key(app, id string) stream.Key { return stream.Key{App: stream.App(app), ID: stream.ID(id)} }

// claimReq is what a node at now asks for: Claim uses c.RenewedAt as now.
func claimReq(k stream.Key, n node.ID, now time.Time) origin.Claim {
	return origin.Claim{Stream: k, Node: n, RelayAddr: string(n) + ":7000", ClaimedAt: now, RenewedAt: now}
}

// stored is the claim a winner of claimReq(k, n, now) holds when first claimed at claimedAt.
func stored(k stream.Key, n node.ID, claimedAt, renewedAt time.Time) origin.Claim {
	return origin.Claim{Stream: k, Node: n, RelayAddr: string(n) + ":7000", ClaimedAt: claimedAt, RenewedAt: renewedAt}
}

func mustClaim(t *testing.T, s ports.OriginClaims, c origin.Claim) origin.Claim {
	t.Helper()
	got, err := s.Claim(ctx(t), c, staleAfter)
	if err != nil {
		t.Fatalf("Claim %s by %s: %v", c.Stream, c.Node, err)
	}
	return got
}

func assertClaimEq(t *testing.T, what string, got, want origin.Claim) {
	t.Helper()
	if g, w := normClaim(got), normClaim(want); !reflect.DeepEqual(g, w) {
		t.Fatalf("%s:\n got  %+v\n want %+v", what, g, w)
	}
}

func assertOrigin(t *testing.T, s ports.OriginClaims, want origin.Claim) {
	t.Helper()
	got, err := s.Origin(ctx(t), want.Stream)
	if err != nil {
		t.Fatalf("Origin %s: %v", want.Stream, err)
	}
	assertClaimEq(t, "Origin "+want.Stream.String(), got, want)
}

func assertNoOrigin(t *testing.T, s ports.OriginClaims, k stream.Key) {
	t.Helper()
	c, err := s.Origin(ctx(t), k)
	if !errors.Is(err, origin.ErrNoClaim) {
		t.Fatalf("Origin %s = %+v, %v; want origin.ErrNoClaim", k, c, err)
	}
}

func assertTaken(t *testing.T, err error, k stream.Key, owner node.ID) {
	t.Helper()
	var taken *origin.TakenError
	if !errors.As(err, &taken) {
		t.Fatalf("Claim %s: err = %v, want *origin.TakenError", k, err)
	}
	if taken.Owner != owner || taken.Stream != k {
		t.Fatalf("TakenError = {Stream: %s, Owner: %s}, want {Stream: %s, Owner: %s}", taken.Stream, taken.Owner, k, owner)
	}
}

func assertClaims(t *testing.T, s ports.OriginClaims, id node.ID, want ...origin.Claim) {
	t.Helper()
	got, err := s.Claims(ctx(t), id)
	if err != nil {
		t.Fatalf("Claims(%q): %v", id, err)
	}
	g, w := normClaims(got), normClaims(want)
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("Claims(%q):\n got  %+v\n want %+v", id, g, w)
	}
}

func runClaims(t *testing.T, open func(t *testing.T) ports.Store) {
	k := key("live", "stream1")

	t.Run("NoClaim", func(t *testing.T) {
		s := open(t)
		assertNoOrigin(t, s, k)
		assertClaims(t, s, "")
		assertClaims(t, s, "n1")
	})

	t.Run("FirstClaimWins", func(t *testing.T) {
		s := open(t)
		got := mustClaim(t, s, claimReq(k, "n1", at(0)))
		want := stored(k, "n1", at(0), at(0))
		assertClaimEq(t, "Claim", got, want)
		assertOrigin(t, s, want)
	})

	t.Run("OwnerReclaims", func(t *testing.T) {
		s := open(t)
		mustClaim(t, s, claimReq(k, "n1", at(0)))
		req := claimReq(k, "n1", at(time.Hour)) // even long after: still its own claim
		req.RelayAddr = "10.1.1.1:7000"
		got := mustClaim(t, s, req)
		want := origin.Claim{Stream: k, Node: "n1", RelayAddr: "10.1.1.1:7000", ClaimedAt: at(0), RenewedAt: at(time.Hour)}
		assertClaimEq(t, "reclaim", got, want)
		assertOrigin(t, s, want)
	})

	t.Run("TakenWhileFresh", func(t *testing.T) {
		tests := []struct {
			name string
			now  time.Time
		}{
			{"SameInstant", at(0)},
			{"Later", at(staleAfter / 2)},
			{"ExactlyStaleAfter", at(staleAfter)},
			{"Earlier", at(-time.Second)},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := open(t)
				want := mustClaim(t, s, claimReq(k, "n1", at(0)))
				_, err := s.Claim(ctx(t), claimReq(k, "n2", tt.now), staleAfter)
				assertTaken(t, err, k, "n1")
				assertOrigin(t, s, want)
			})
		}
	})

	t.Run("TakeoverWhenStale", func(t *testing.T) {
		s := open(t)
		mustClaim(t, s, claimReq(k, "n1", at(0)))
		// n1 renews at 10s: staleness counts from the last renewal.
		if n, err := s.RenewClaims(ctx(t), "n1", at(10*time.Second)); err != nil || n != 1 {
			t.Fatalf("RenewClaims = %d, %v; want 1, nil", n, err)
		}
		_, err := s.Claim(ctx(t), claimReq(k, "n2", at(10*time.Second+staleAfter)), staleAfter)
		assertTaken(t, err, k, "n1")
		now := at(10*time.Second + staleAfter + time.Millisecond)
		got := mustClaim(t, s, claimReq(k, "n2", now))
		want := stored(k, "n2", now, now)
		assertClaimEq(t, "takeover", got, want)
		assertOrigin(t, s, want)
		// The old owner is now the one refused.
		_, err = s.Claim(ctx(t), claimReq(k, "n1", now), staleAfter)
		assertTaken(t, err, k, "n2")
	})

	t.Run("ClaimsAreIndependentPerStream", func(t *testing.T) {
		s := open(t)
		k2 := key("live", "stream2")
		k3 := key("other", "stream1")
		a := mustClaim(t, s, claimReq(k, "n1", at(0)))
		b := mustClaim(t, s, claimReq(k2, "n2", at(0)))
		c := mustClaim(t, s, claimReq(k3, "n2", at(0)))
		assertOrigin(t, s, a)
		assertOrigin(t, s, b)
		assertOrigin(t, s, c)
		assertClaims(t, s, "", a, b, c)
		assertClaims(t, s, "n1", a)
		assertClaims(t, s, "n2", b, c)
		assertClaims(t, s, "n3")
	})

	t.Run("RenewClaims", func(t *testing.T) {
		s := open(t)
		k2, k3 := key("live", "stream2"), key("app2", "stream3")
		mustClaim(t, s, claimReq(k, "n1", at(0)))
		mustClaim(t, s, claimReq(k2, "n1", at(time.Second)))
		other := mustClaim(t, s, claimReq(k3, "n2", at(0)))
		now := at(15 * time.Second)
		n, err := s.RenewClaims(ctx(t), "n1", now)
		if err != nil || n != 2 {
			t.Fatalf("RenewClaims(n1) = %d, %v; want 2, nil", n, err)
		}
		assertClaims(t, s, "", stored(k, "n1", at(0), now), stored(k2, "n1", at(time.Second), now), other)
		if n, err := s.RenewClaims(ctx(t), "n3", now); err != nil || n != 0 {
			t.Fatalf("RenewClaims(n3) = %d, %v; want 0, nil", n, err)
		}
		assertClaims(t, s, "", stored(k, "n1", at(0), now), stored(k2, "n1", at(time.Second), now), other)
	})

	t.Run("Release", func(t *testing.T) {
		s := open(t)
		k2 := key("live", "stream2")
		mustClaim(t, s, claimReq(k, "n1", at(0)))
		kept := mustClaim(t, s, claimReq(k2, "n1", at(0)))
		if err := s.Release(ctx(t), k, "n1"); err != nil {
			t.Fatalf("Release by owner: %v", err)
		}
		assertNoOrigin(t, s, k)
		assertOrigin(t, s, kept)
		if err := s.Release(ctx(t), k, "n1"); err != nil {
			t.Fatalf("Release with no claim: %v, want nil", err)
		}
		// Once released, another node claims at once.
		mustClaim(t, s, claimReq(k, "n2", at(time.Second)))
	})

	t.Run("ReleaseByOther", func(t *testing.T) {
		s := open(t)
		want := mustClaim(t, s, claimReq(k, "n1", at(0)))
		err := s.Release(ctx(t), k, "n2")
		if !errors.Is(err, origin.ErrNotOwner) {
			t.Fatalf("Release by other node: err = %v, want origin.ErrNotOwner", err)
		}
		assertOrigin(t, s, want)
	})
}
