package engine

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/colony-live/colony/core/node"
	"github.com/colony-live/colony/core/origin"
	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
)

func TestRunRegistersAndHeartbeats(t *testing.T) {
	var samples atomic.Int32
	load := loadFunc(func() (float64, uint64, uint64) {
		samples.Add(1)
		return 42.5, 300 << 20, 8 << 30
	})
	_, hls := constViewers(3)
	_, webrtc := constViewers(2)
	h := newHarness(t, withLoad(load), withViewers("hls", hls), withViewers("webrtc", webrtc),
		withConfig(func(c *Config) { c.Self.HTTPAddr, c.Self.Version = "a:5080", "1.2.3" }))
	h.start(t, key("s1"))
	h.start(t, key("s2"))
	started := h.clock.Now()
	h.run(t)

	eventually(t, "registered", func() bool { _, ok := h.store.node(selfID); return ok })
	n, _ := h.store.node(selfID)
	if n.Role != node.RoleBoth || n.Group != node.DefaultGroup || n.InternalAddr != selfRelay || n.PublicAddr != selfPublic ||
		n.HTTPAddr != "a:5080" || n.Version != "1.2.3" || !n.StartedAt.Equal(started) || !n.LastSeen.Equal(started) {
		t.Fatalf("registered node = %+v", n)
	}

	beat := h.clock.Advance(5 * time.Second)
	eventually(t, "heartbeat at the new time", func() bool { n, _ := h.store.node(selfID); return n.LastSeen.Equal(beat) })
	n, _ = h.store.node(selfID)
	l := n.Load
	if l.CPUPercent != 42.5 || l.MemoryBytes != 300<<20 || l.MemoryTotal != 8<<30 {
		t.Fatalf("load = %+v, want the sampler's", l)
	}
	if l.Streams != 2 || l.Viewers != 2*(3+2) {
		t.Fatalf("load counts %d streams %d viewers, want 2 and 10", l.Streams, l.Viewers)
	}
	if l.DBQueryAvgMs <= 0 {
		t.Fatalf("DBQueryAvgMs = %v, want a measure", l.DBQueryAvgMs)
	}
	if n.StartedAt != started {
		t.Fatalf("heartbeat changed StartedAt to %v", n.StartedAt)
	}
	if h.store.count("Register") != 1 {
		t.Fatalf("registered %d times", h.store.count("Register"))
	}
	if samples.Load() < 2 {
		t.Fatal("load not sampled for each heartbeat")
	}
}

func TestRunReregistersWhenForgotten(t *testing.T) {
	h := newHarness(t)
	h.run(t)
	eventually(t, "registered", func() bool { _, ok := h.store.node(selfID); return ok })
	h.store.removeNode(selfID) // purged by another node while partitioned
	eventually(t, "registered again", func() bool { _, ok := h.store.node(selfID); return ok })
	if c := h.store.count("Register"); c < 2 {
		t.Fatalf("Register called %d times", c)
	}
}

func TestRunRenewsClaims(t *testing.T) {
	h := newHarness(t)
	k := key("s1")
	h.start(t, k)
	claimed := h.clock.Now()
	h.run(t)
	later := h.clock.Advance(15 * time.Second)
	eventually(t, "claim renewed", func() bool { c, _ := h.store.claim(k); return c.RenewedAt.Equal(later) })
	c, _ := h.store.claim(k)
	if c.Node != selfID || !c.ClaimedAt.Equal(claimed) {
		t.Fatalf("claim = %+v", c)
	}
	// Renewed, the claim stays ours past the stale time of its first claim.
	h.clock.Advance(10 * time.Second)
	if _, err := h.store.Claim(ctxT(t), origin.Claim{Stream: k, Node: "node-b", RenewedAt: h.clock.Now()}, testDead); err == nil {
		t.Fatal("another node took a renewed claim")
	}
}

func TestRunReleasesLeftoverClaims(t *testing.T) {
	h := newHarness(t)
	mine, leftover, others := key("live"), key("leftover"), key("others")
	h.start(t, mine)
	h.originClaim(leftover, selfID) // from before a crash, or an End whose Release failed
	h.originClaim(others, "node-b")
	h.run(t)
	eventually(t, "leftover claim released", func() bool { _, ok := h.store.claim(leftover); return !ok })
	if c, ok := h.store.claim(mine); !ok || c.Node != selfID {
		t.Fatal("the live stream's claim was released")
	}
	if c, ok := h.store.claim(others); !ok || c.Node != "node-b" {
		t.Fatal("another node's claim was released")
	}
}

func TestRunKicksPublisherWhoseClaimWasLost(t *testing.T) {
	h := newHarness(t)
	k, kept := key("lost"), key("kept")
	pub, _ := h.start(t, k)
	keptPub, _ := h.start(t, kept)
	// A partition made this node look dead and another origin took over.
	h.originClaim(k, "node-b")
	h.run(t)
	select {
	case <-pub.Kicked():
	case <-time.After(waitFor):
		t.Fatal("publisher kept publishing a stream whose claim another node holds")
	}
	select {
	case <-keptPub.Kicked():
		t.Fatal("a publisher that still holds its claim was kicked")
	case <-time.After(100 * time.Millisecond):
	}
	if c, _ := h.store.claim(k); c.Node != "node-b" {
		t.Fatalf("the other node's claim was touched: %+v", c)
	}
}

func TestRunSweepsDeadOrigins(t *testing.T) {
	h := newHarness(t)
	now := h.clock.Now()
	h.store.putNode(node.Node{ID: "alive", LastSeen: now.Add(-testDead)})
	h.store.putNode(node.Node{ID: "dead", LastSeen: now.Add(-testDead - time.Second)})
	rec := func(id, originNode string) stream.Key {
		b := stream.NewBroadcast(key(id), now.Add(-time.Hour))
		if err := b.Transition(stream.StatusBroadcasting, now.Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}
		b.OriginNode = originNode
		h.store.putBroadcast(b)
		return b.Key
	}
	onAlive := rec("on-alive", "alive")
	onDead := rec("on-dead", "dead")
	onMissing := rec("on-missing", "missing")
	leftover := rec("leftover", string(selfID)) // this node crashed while it was live
	finished := stream.NewBroadcast(key("finished"), now)
	finished.OriginNode = "dead"
	h.store.putBroadcast(finished)
	local := key("local")
	h.start(t, local) // published here before Run: not a leftover

	h.run(t)
	want := map[stream.Key]stream.Status{
		onAlive:      stream.StatusBroadcasting,
		onDead:       stream.StatusTerminatedUnexpectedly,
		onMissing:    stream.StatusTerminatedUnexpectedly,
		leftover:     stream.StatusTerminatedUnexpectedly,
		finished.Key: stream.StatusCreated,
		local:        stream.StatusBroadcasting,
	}
	eventually(t, "sweep", func() bool {
		for k, st := range want {
			if b, _ := h.store.broadcast(k); b.Status != st {
				return false
			}
		}
		return true
	})
	// The sweep ran at the first beat, at the registration time.
	if b, _ := h.store.broadcast(leftover); !b.EndTime.Equal(now) {
		t.Fatalf("leftover ended at %v, want at start (%v)", b.EndTime, now)
	}
	// The alive origin's broadcast dies with its node.
	h.clock.Advance(time.Second)
	eventually(t, "sweep after the origin died", func() bool {
		b, _ := h.store.broadcast(onAlive)
		return b.Status == stream.StatusTerminatedUnexpectedly
	})
	if b, _ := h.store.broadcast(local); b.Status != stream.StatusBroadcasting {
		t.Fatalf("local broadcast swept: %s", b.Status)
	}
}

func TestRunPurgesLongDeadNodes(t *testing.T) {
	h := newHarness(t)
	now := h.clock.Now()
	h.store.putNode(node.Node{ID: "ancient", LastSeen: now.Add(-testPurge - time.Second)})
	h.store.putNode(node.Node{ID: "dead", LastSeen: now.Add(-testPurge + time.Minute)})
	h.run(t)
	eventually(t, "purge", func() bool { _, ok := h.store.node("ancient"); return !ok })
	if _, ok := h.store.node("dead"); !ok {
		t.Fatal("a dead node younger than PurgeAfter was purged")
	}
	if _, ok := h.store.node(selfID); !ok {
		t.Fatal("this node was purged")
	}
}

func TestRunPublishesViewerCounts(t *testing.T) {
	hlsN, hls := constViewers(3)
	_, webrtc := constViewers(2)
	_, rtmp := constViewers(1)
	h := newHarness(t, withViewers("hls", hls), withViewers("webrtc", webrtc), withViewers("rtmp", rtmp))
	k := key("s1")
	h.start(t, k)
	h.run(t)
	counts := func(hl, w, r int) func() bool {
		return func() bool {
			b, _ := h.store.broadcast(k)
			return b.HLSViewers == hl && b.WebRTCViewers == w && b.RTMPViewers == r
		}
	}
	eventually(t, "viewer counts recorded", counts(3, 2, 1))
	hlsN.Store(7)
	eventually(t, "viewer counts updated", counts(7, 2, 1))
}

func TestRunDrains(t *testing.T) {
	h := newHarness(t)
	stop := h.run(t)
	eventually(t, "registered", func() bool { _, ok := h.store.node(selfID); return ok })

	// A publisher that takes a while to go once kicked.
	k := key("s1")
	pub, s := h.start(t, k)
	go func() {
		<-pub.Kicked()
		time.Sleep(50 * time.Millisecond)
		pub.End(nil)
	}()
	leftover := key("other")
	h.originClaim(leftover, selfID)

	if err := stop(); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if !closed(pub.Kicked()) {
		t.Fatal("publisher not kicked")
	}
	if !closed(s.Done()) {
		t.Fatal("Run returned before the publisher ended")
	}
	if b, _ := h.store.broadcast(k); b.Status != stream.StatusFinished {
		t.Fatalf("broadcast status %s after drain", b.Status)
	}
	if claims, _ := h.store.Claims(ctxT(t), selfID); len(claims) != 0 {
		t.Fatalf("claims left after drain: %+v", claims)
	}
	if _, ok := h.store.node(selfID); ok {
		t.Fatal("node still registered after drain")
	}
	if _, err := h.e.Publish(ctxT(t), ports.PublishRequest{Key: key("late")}); !errors.Is(err, ports.ErrOverloaded) {
		t.Fatalf("Publish after drain = %v, want ErrOverloaded", err)
	}
}

func TestRunDrainIsBounded(t *testing.T) {
	h := newHarness(t, withConfig(func(c *Config) { c.DrainTimeout = 100 * time.Millisecond }))
	stop := h.run(t)
	k := key("s1")
	pub, _ := h.start(t, k) // never ends by itself (End runs at cleanup)
	eventually(t, "registered", func() bool { _, ok := h.store.node(selfID); return ok })
	began := time.Now()
	if err := stop(); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if d := time.Since(began); d < 100*time.Millisecond || d > 2*time.Second {
		t.Fatalf("drain took %v with a publisher that never ends, want about DrainTimeout", d)
	}
	if !closed(pub.Kicked()) {
		t.Fatal("publisher not kicked")
	}
	if _, ok := h.store.node(selfID); ok {
		t.Fatal("node still registered after drain")
	}
	if _, ok := h.store.claim(k); ok {
		t.Fatal("claim kept after drain")
	}
}

func TestRunSurvivesStoreOutage(t *testing.T) {
	h := newHarness(t)
	stop := h.run(t)
	eventually(t, "registered", func() bool { _, ok := h.store.node(selfID); return ok })
	h.store.setDown(true)
	failed := h.store.count("Heartbeat")
	eventually(t, "heartbeats while down", func() bool { return h.store.count("Heartbeat") >= failed+3 })
	back := h.clock.Advance(5 * time.Second)
	h.store.setDown(false)
	eventually(t, "heartbeat after the outage", func() bool { n, _ := h.store.node(selfID); return n.LastSeen.Equal(back) })
	if err := stop(); err != nil {
		t.Fatalf("Run = %v", err)
	}
}

func TestRunStartsWithStoreDown(t *testing.T) {
	h := newHarness(t)
	h.store.setDown(true)
	stop := h.run(t)
	eventually(t, "registration attempts", func() bool { return h.store.count("Register") >= 3 })
	if h.store.count("Heartbeat") != 0 {
		t.Fatal("heartbeat before registering")
	}
	h.store.setDown(false)
	eventually(t, "registered once the store is up", func() bool { _, ok := h.store.node(selfID); return ok })
	eventually(t, "heartbeats", func() bool { return h.store.count("Heartbeat") > 0 })
	if err := stop(); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if _, ok := h.store.node(selfID); ok {
		t.Fatal("node still registered after drain")
	}
}

func TestRunStoreDownAtShutdown(t *testing.T) {
	h := newHarness(t)
	stop := h.run(t)
	k := key("s1")
	pub, _ := h.start(t, k)
	go func() {
		<-pub.Kicked()
		pub.End(nil)
	}()
	eventually(t, "registered", func() bool { _, ok := h.store.node(selfID); return ok })
	h.store.setDown(true)
	if err := stop(); err != nil { // returns although nothing can be recorded
		t.Fatalf("Run = %v", err)
	}
}

func TestNewValidates(t *testing.T) {
	store := newFakeStore()
	tests := []struct {
		name string
		cfg  Config
		deps Deps
	}{
		{"no store", Config{Self: node.Node{ID: "a"}}, Deps{}},
		{"no id", Config{}, Deps{Store: store}},
		{"bad role", Config{Self: node.Node{ID: "a", Role: "leader"}}, Deps{Store: store}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if e, err := New(tt.cfg, tt.deps); err == nil {
				t.Fatalf("New = %v, want an error", e)
			}
		})
	}
	e, err := New(Config{Self: node.Node{ID: "a"}}, Deps{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	if e.Self().Role != node.RoleBoth || e.Self().Group != node.DefaultGroup {
		t.Fatalf("defaults: %+v", e.Self())
	}
	if !e.HasApp("LiveApp") || !e.HasApp("WebRTCAppEE") || e.HasApp("Other") || len(e.Apps()) != 2 {
		t.Fatalf("default apps = %v", e.Apps())
	}
	if e.Store() != store {
		t.Fatal("Store() is not the store")
	}
}

func TestDBQueryAverage(t *testing.T) {
	h := newHarness(t)
	if got := h.e.sampleLoad().DBQueryAvgMs; got != 0 {
		t.Fatalf("DBQueryAvgMs before any store call = %v", got)
	}
	errStore := errors.New("store says no")
	if err := h.e.timed(func() error { time.Sleep(2 * time.Millisecond); return errStore }); !errors.Is(err, errStore) {
		t.Fatalf("timed = %v, want the call's error", err)
	}
	if got := h.e.sampleLoad().DBQueryAvgMs; got < 2 || got > 1000 {
		t.Fatalf("DBQueryAvgMs after a 2ms call = %v", got)
	}
	// Sub-microsecond round trips (an embedded store) still count.
	h.e.dbMu.Lock()
	h.e.dbAvg = 500 * time.Nanosecond
	h.e.dbMu.Unlock()
	if got := h.e.sampleLoad().DBQueryAvgMs; got != 0.0005 {
		t.Fatalf("DBQueryAvgMs for 500ns = %v, want 0.0005", got)
	}
}

// A publication that has left the live set but not yet recorded its end
// (stopping its renditions takes a while) is not a crash leftover: the
// sweep leaves it to End, which records it finished.
func TestSweepSparesEndingPublication(t *testing.T) {
	h := newHarness(t)
	k := key("ending")
	pub, _ := h.start(t, k)
	h.e.mu.Lock()
	en := h.e.live[k]
	delete(h.e.live, k) // End's first step
	h.e.ending[k]++
	h.e.mu.Unlock()

	h.e.sweep(t.Context(), h.clock.Now())
	if b, _ := h.store.broadcast(k); b.Status != stream.StatusBroadcasting {
		t.Fatalf("sweep marked an ending publication %s", b.Status)
	}

	h.e.mu.Lock()
	h.e.live[k] = en
	h.e.ending[k]--
	h.e.mu.Unlock()
	pub.End(nil)
	if b, _ := h.store.broadcast(k); b.Status != stream.StatusFinished {
		t.Fatalf("after End: %s, want finished", b.Status)
	}
	h.e.mu.Lock()
	left := len(h.e.ending)
	h.e.mu.Unlock()
	if left != 0 {
		t.Fatalf("ending set keeps %d entries after End", left)
	}
	// Without the guard the same sweep takes it for a leftover.
	k2 := key("leftover")
	h.start(t, k2)
	h.e.mu.Lock()
	delete(h.e.live, k2)
	h.e.mu.Unlock()
	h.e.sweep(t.Context(), h.clock.Now())
	if b, _ := h.store.broadcast(k2); b.Status != stream.StatusTerminatedUnexpectedly {
		t.Fatalf("a broadcast of this node that is neither live nor ending: %s, want terminated_unexpectedly", b.Status)
	}
}
