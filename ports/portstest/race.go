package portstest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/colony-live/colony/core/node"
	"github.com/colony-live/colony/core/origin"
	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
)

// racers is how many nodes claim one stream at the same time.
const racers = 20

// raceResult is what one racer got.
type raceResult struct {
	node  node.ID
	claim origin.Claim
	err   error
}

// race makes racers distinct nodes claim k at now, all released at once, and
// returns their results.
func race(t *testing.T, s ports.OriginClaims, k stream.Key, now time.Time) []raceResult {
	t.Helper()
	c := ctx(t)
	start := make(chan struct{})
	results := make([]raceResult, racers)
	var wg sync.WaitGroup
	for i := range racers {
		id := node.ID(fmt.Sprintf("racer-%02d", i))
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			got, err := s.Claim(c, claimReq(k, id, now), staleAfter)
			results[i] = raceResult{node: id, claim: got, err: err}
		}()
	}
	close(start)
	wg.Wait()
	return results
}

// checkOneWinner asserts that exactly one racer won, that every other one got
// a *origin.TakenError naming the winner, and that the store holds the
// winner's claim.
func checkOneWinner(t *testing.T, s ports.OriginClaims, k stream.Key, now time.Time, results []raceResult) {
	t.Helper()
	var winners []node.ID
	for _, r := range results {
		if r.err == nil {
			winners = append(winners, r.node)
		}
	}
	if len(winners) != 1 {
		t.Fatalf("%d racers won (%v), want exactly 1", len(winners), winners)
	}
	winner := winners[0]
	taken := 0
	for _, r := range results {
		if r.err == nil {
			assertClaimEq(t, "winner's claim", r.claim, stored(k, winner, now, now))
			continue
		}
		var te *origin.TakenError
		if !errors.As(r.err, &te) {
			t.Errorf("racer %s: err = %v, want *origin.TakenError", r.node, r.err)
			continue
		}
		if te.Owner != winner {
			t.Errorf("racer %s: TakenError owner %s, want the winner %s", r.node, te.Owner, winner)
		}
		taken++
	}
	if taken != racers-1 {
		t.Errorf("%d racers got *origin.TakenError, want %d", taken, racers-1)
	}
	assertOrigin(t, s, stored(k, winner, now, now))
}

func runClaimRace(t *testing.T, open func(t *testing.T) ports.Store) {
	// Each race runs over several streams: a non-atomic claim loses only
	// some races.
	const rounds = 5
	keyN := func(i int) stream.Key { return key("live", fmt.Sprintf("contended-%d", i)) }

	t.Run("NoClaim", func(t *testing.T) {
		s := open(t)
		now := at(0)
		for i := range rounds {
			k := keyN(i)
			checkOneWinner(t, s, k, now, race(t, s, k, now))
		}
	})

	t.Run("StaleClaim", func(t *testing.T) {
		s := open(t)
		now := at(staleAfter + time.Second)
		for i := range rounds {
			k := keyN(i)
			mustClaim(t, s, claimReq(k, "old-owner", at(0)))
			checkOneWinner(t, s, k, now, race(t, s, k, now))
		}
	})

	t.Run("FreshClaim", func(t *testing.T) {
		s := open(t)
		k := keyN(0)
		want := mustClaim(t, s, claimReq(k, "owner", at(0)))
		for _, r := range race(t, s, k, at(time.Second)) {
			assertTaken(t, r.err, k, "owner")
		}
		assertOrigin(t, s, want)
	})
}
