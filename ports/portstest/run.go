// Package portstest is the conformance suite that every ports.Store adapter runs from its tests.
package portstest

import (
	"context"
	"testing"
	"time"

	"github.com/colony-live/colony/ports"
)

// Run runs the whole conformance suite. open must return a fresh, empty store
// for the subtest t and register its cleanup (closing the store, dropping its
// data) with t.Cleanup; each subtest opens its own.
//
// Every time the suite stores has millisecond precision and is in UTC, and
// times and slices are compared after normalising (time.Equal semantics, nil
// and empty slices alike), so that stores with coarser encodings (MongoDB
// dates) pass as long as they keep what the domain needs.
func Run(t *testing.T, open func(t *testing.T) ports.Store) {
	t.Helper()
	t.Run("Ping", func(t *testing.T) {
		s := open(t)
		if err := s.Ping(ctx(t)); err != nil {
			t.Fatalf("Ping: %v", err)
		}
	})
	t.Run("NodeRegistry", func(t *testing.T) { runNodes(t, open) })
	t.Run("OriginClaims", func(t *testing.T) { runClaims(t, open) })
	t.Run("ClaimRace", func(t *testing.T) { runClaimRace(t, open) })
	t.Run("StreamRelays", func(t *testing.T) { runCarriers(t, open) })
	t.Run("StreamCatalog", func(t *testing.T) { runCatalog(t, open) })
	t.Run("BroadcastList", func(t *testing.T) { runList(t, open) })
}

// epoch is the suite's reference time: whole milliseconds, UTC.
var epoch = time.UnixMilli(1_700_000_000_000).UTC()

// at returns epoch plus d, truncated to the millisecond.
func at(d time.Duration) time.Time {
	return time.UnixMilli(epoch.Add(d).UnixMilli()).UTC()
}

// ctx returns a context that ends with the test, bounded so that a hung
// store fails the test instead of hanging it.
func ctx(t *testing.T) context.Context {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}
