package engine

import (
	"github.com/colony-live/colony/core/node"
	"github.com/colony-live/colony/core/origin"
	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports/portstest"
)

// fakeStore is the shared in-memory store (portstest.MemStore: it passes
// the store conformance suite, Claim is atomic) with the short helper names
// the engine tests use.
type fakeStore struct{ *portstest.MemStore }

func newFakeStore() *fakeStore { return &fakeStore{portstest.NewMemStore()} }

// setDown makes the whole store unreachable (or reachable again).
func (f *fakeStore) setDown(down bool) { f.SetDown(down) }

// failOn makes calls to method fail with ports.ErrUnavailable (or not).
func (f *fakeStore) failOn(method string, fail bool) { f.FailOn(method, fail) }

// count returns how many times method was called (failed calls included).
func (f *fakeStore) count(method string) int { return f.Calls(method) }

func (f *fakeStore) node(id node.ID) (node.Node, bool)               { return f.NodeRecord(id) }
func (f *fakeStore) putNode(n node.Node)                             { f.PutNode(n) }
func (f *fakeStore) removeNode(id node.ID)                           { f.RemoveNode(id) }
func (f *fakeStore) claim(k stream.Key) (origin.Claim, bool)         { return f.ClaimRecord(k) }
func (f *fakeStore) putClaim(c origin.Claim)                         { f.PutClaim(c) }
func (f *fakeStore) removeClaim(k stream.Key)                        { f.RemoveClaim(k) }
func (f *fakeStore) broadcast(k stream.Key) (stream.Broadcast, bool) { return f.BroadcastRecord(k) }
func (f *fakeStore) putBroadcast(b stream.Broadcast)                 { f.PutBroadcast(b) }
