package mongo

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.uber.org/goleak"

	"github.com/colony-live/colony/adapters/mongo/mongotest"
	"github.com/colony-live/colony/core/node"
	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
	"github.com/colony-live/colony/ports/portstest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testCtx ends with the test and bounds a hung call.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// openTest opens a store on a fresh database of srv, and drops the database
// and closes the store when t ends.
func openTest(t *testing.T, srv *mongotest.Server, cfg Config) *Store {
	t.Helper()
	cfg.URI = srv.URI()
	if cfg.Database == "" {
		cfg.Database = srv.Database()
	}
	s, err := Open(testCtx(t), cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.client.Database(cfg.Database).Drop(ctx); err != nil {
			t.Errorf("drop %s: %v", cfg.Database, err)
		}
		if err := s.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	srv := mongotest.New(t)
	portstest.Run(t, func(t *testing.T) ports.Store { return openTest(t, srv, Config{}) })
}

func TestOpenCreatesIndexesIdempotently(t *testing.T) {
	srv := mongotest.New(t)
	db := srv.Database()
	first := openTest(t, srv, Config{Database: db})
	second := openTest(t, srv, Config{Database: db}) // indexes exist already
	if err := second.Ping(testCtx(t)); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	want := map[string][]string{
		collNodes:      {"lastSeen"},
		collClaims:     {"node"},
		collBroadcasts: {"app_status", "app_createdAt", "status"},
		collStreamInfo: {"app_streamId"},
		collCarriers:   {"stream", "node"},
	}
	for coll, names := range want {
		cur, err := first.client.Database(db).Collection(coll).Indexes().List(testCtx(t))
		if err != nil {
			t.Fatalf("list indexes of %s: %v", coll, err)
		}
		var specs []struct {
			Name string `bson:"name"`
		}
		if err := cur.All(testCtx(t), &specs); err != nil {
			t.Fatalf("read indexes of %s: %v", coll, err)
		}
		have := map[string]bool{}
		for _, s := range specs {
			have[s.Name] = true
		}
		for _, n := range names {
			if !have[n] {
				t.Errorf("collection %s lacks index %s (has %v)", coll, n, specs)
			}
		}
	}
}

func TestBroadcastDocument(t *testing.T) {
	srv := mongotest.New(t)
	s := openTest(t, srv, Config{})
	ctx := testCtx(t)
	k := stream.Key{App: "LiveApp", ID: "cam1"}
	created := time.Date(2024, 5, 6, 7, 8, 9, 123_456_789, time.FixedZone("X", 3600))
	if err := s.CreateBroadcast(ctx, stream.NewBroadcast(k, created)); err != nil {
		t.Fatalf("CreateBroadcast: %v", err)
	}
	got, err := s.UpdateBroadcast(ctx, k, false, created, func(b *stream.Broadcast) error { b.Name = "x"; return nil })
	if err != nil {
		t.Fatalf("UpdateBroadcast: %v", err)
	}
	wantTime := time.Date(2024, 5, 6, 6, 8, 9, 123_000_000, time.UTC)
	if got.CreatedAt != wantTime {
		t.Errorf("CreatedAt = %v, want %v (UTC, ms)", got.CreatedAt, wantTime)
	}
	var raw bson.M
	if err := s.broadcasts.FindOne(ctx, bson.D{{Key: "_id", Value: "LiveApp/cam1"}}).Decode(&raw); err != nil {
		t.Fatalf("find raw document: %v", err)
	}
	if raw["version"] != int64(2) || raw["app"] != "LiveApp" || raw["streamId"] != "cam1" || raw["name"] != "x" {
		t.Errorf("stored document = %v; want version 2, app LiveApp, streamId cam1, name x", raw)
	}
	if _, ok := raw["startTime"]; ok {
		t.Errorf("zero startTime stored: %v", raw["startTime"])
	}
	if ts, ok := raw["createdAt"].(primitive.DateTime); !ok || ts.Time().UTC() != wantTime {
		t.Errorf("createdAt stored as %T %v, want BSON date %v", raw["createdAt"], raw["createdAt"], wantTime)
	}
}

func TestUpdateBroadcastGivesUpWithConflict(t *testing.T) {
	srv := mongotest.New(t)
	s := openTest(t, srv, Config{})
	s.retry = retryPolicy{attempts: 3, maxBackoff: time.Millisecond}
	ctx := testCtx(t)
	k := stream.Key{App: "LiveApp", ID: "cam1"}
	if err := s.CreateBroadcast(ctx, stream.NewBroadcast(k, time.Now())); err != nil {
		t.Fatalf("CreateBroadcast: %v", err)
	}
	calls := 0
	_, err := s.UpdateBroadcast(ctx, k, false, time.Now(), func(b *stream.Broadcast) error {
		calls++
		// A concurrent writer changes the record during every attempt.
		_, err := s.broadcasts.UpdateOne(ctx, bson.D{{Key: "_id", Value: keyID(k)}}, bson.D{{Key: "$inc", Value: bson.D{{Key: "version", Value: 1}}}})
		b.HLSViewers = 1
		return err
	})
	if !errors.Is(err, ports.ErrConflict) {
		t.Fatalf("UpdateBroadcast under constant interference: err = %v, want ports.ErrConflict", err)
	}
	if calls != 3 {
		t.Errorf("fn called %d times, want 3 (one per attempt)", calls)
	}
	b, err := s.Broadcast(ctx, k)
	if err != nil || b.HLSViewers != 0 {
		t.Fatalf("Broadcast = %+v, %v; want the record unchanged", b, err)
	}
}

func TestOpenUnreachable(t *testing.T) {
	const password = "s3cr3t-P@ss/word"
	uri, err := ParseTarget(mongotest.FreePort(t), "colony-user", password)
	if err != nil {
		t.Fatalf("ParseTarget: %v", err)
	}
	const timeout = 500 * time.Millisecond
	start := time.Now()
	s, err := Open(testCtx(t), Config{URI: uri, ConnectTimeout: timeout})
	elapsed := time.Since(start)
	if err == nil {
		_ = s.Close(context.Background())
		t.Fatal("Open of a closed port succeeded")
	}
	if !errors.Is(err, ports.ErrUnavailable) {
		t.Errorf("err = %v, want one wrapping ports.ErrUnavailable", err)
	}
	if elapsed > timeout+time.Second {
		t.Errorf("Open took %v, want about the ConnectTimeout %v", elapsed, timeout)
	}
	assertNoSecrets(t, err.Error(), "colony-user", password)
}

func TestOpenBadURIHidesCredentials(t *testing.T) {
	tests := []struct{ name, uri string }{
		{"BadPort", "mongodb://admin:Hunter2-secret@localhost:99999/"},
		{"BadOption", "mongodb://admin:Hunter2-secret@localhost/?connectTimeoutMS=Hunter2-secret"},
		{"UnescapedColon", "mongodb://admin:Hunter2:secret@localhost/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(testCtx(t), Config{URI: tt.uri, ConnectTimeout: 200 * time.Millisecond})
			if err == nil {
				_ = s.Close(context.Background())
				t.Fatalf("Open(%s) succeeded", Redact(tt.uri))
			}
			assertNoSecrets(t, err.Error(), "Hunter2")
		})
	}
}

func assertNoSecrets(t *testing.T, msg string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(msg, s) {
			t.Errorf("message %q contains the secret %q", msg, s)
		}
	}
}

func TestOutageAndRecovery(t *testing.T) {
	srv := mongotest.New(t)
	s := openTest(t, srv, Config{ConnectTimeout: time.Second, OpTimeout: 2 * time.Second})
	k := stream.Key{App: "LiveApp", ID: "cam1"}
	if err := s.CreateBroadcast(testCtx(t), stream.NewBroadcast(k, time.Now())); err != nil {
		t.Fatalf("CreateBroadcast: %v", err)
	}

	srv.Stop(t)
	start := time.Now()
	_, err := s.Broadcast(testCtx(t), k)
	if !errors.Is(err, ports.ErrUnavailable) {
		t.Fatalf("Broadcast while the server is down: err = %v, want ports.ErrUnavailable", err)
	}
	if took := time.Since(start); took > 4*time.Second {
		t.Errorf("Broadcast while down took %v, want at most about OpTimeout", took)
	}
	if err := s.Ping(testCtx(t)); !errors.Is(err, ports.ErrUnavailable) {
		t.Fatalf("Ping while the server is down: err = %v, want ports.ErrUnavailable", err)
	}

	srv.Start(t)
	deadline := time.Now().Add(15 * time.Second)
	for {
		b, err := s.Broadcast(testCtx(t), k)
		if err == nil {
			if b.Key != k {
				t.Fatalf("Broadcast after restart = %+v", b)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("store still failing 15s after the server came back: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestNodeStreamViewersDocument: a node's viewers per stream are stored as
// an array of {app, id, hls, webrtc, rtmp} subdocuments in its load (zero
// counts and an empty array left out), never as field names made of
// stream ids, and the heartbeat's one $set replaces them.
func TestNodeStreamViewersDocument(t *testing.T) {
	srv := mongotest.New(t)
	s := openTest(t, srv, Config{})
	ctx := testCtx(t)
	now := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	if err := s.Register(ctx, node.Node{ID: "n1", Role: node.RoleEdge, LastSeen: now}); err != nil {
		t.Fatalf("Register: %v", err)
	}
	raw := func() bson.M {
		t.Helper()
		var d bson.M
		if err := s.nodes.FindOne(ctx, bson.D{{Key: "_id", Value: "n1"}}).Decode(&d); err != nil {
			t.Fatalf("find raw document: %v", err)
		}
		load, ok := d["load"].(bson.M)
		if !ok {
			t.Fatalf("load stored as %T %v", d["load"], d["load"])
		}
		return load
	}
	if v, ok := raw()["streamViewers"]; ok {
		t.Fatalf("no viewers, yet streamViewers stored: %v", v)
	}
	load := node.Load{Viewers: 6, StreamViewers: []node.StreamViewers{
		{Stream: stream.Key{App: "LiveApp", ID: "cam.1"}, HLS: 3, RTMP: 1},
		{Stream: stream.Key{App: "WebRTCAppEE", ID: "b"}, WebRTC: 2},
	}}
	if err := s.Heartbeat(ctx, "n1", load, now.Add(5*time.Second)); err != nil {
		t.Fatalf("Heartbeat: %v", err)
	}
	got, ok := raw()["streamViewers"].(bson.A)
	want := []bson.M{
		{"app": "LiveApp", "id": "cam.1", "hls": int64(3), "rtmp": int64(1)},
		{"app": "WebRTCAppEE", "id": "b", "webrtc": int64(2)},
	}
	if !ok || len(got) != len(want) {
		t.Fatalf("streamViewers stored as %T %v, want an array of %d", raw()["streamViewers"], raw()["streamViewers"], len(want))
	}
	for i, w := range want {
		if !reflect.DeepEqual(got[i], w) {
			t.Errorf("streamViewers[%d] = %v, want %v", i, got[i], w)
		}
	}
	load.StreamViewers = nil
	if err := s.Heartbeat(ctx, "n1", load, now.Add(10*time.Second)); err != nil {
		t.Fatalf("Heartbeat: %v", err)
	}
	if v, ok := raw()["streamViewers"]; ok {
		t.Errorf("viewers gone, yet streamViewers still stored: %v", v)
	}
}
