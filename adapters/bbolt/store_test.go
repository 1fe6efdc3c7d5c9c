package bbolt

import (
	"context"
	"encoding/binary"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/goleak"

	"github.com/colony-live/colony/core/node"
	"github.com/colony-live/colony/core/origin"
	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
	"github.com/colony-live/colony/ports/portstest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func openAt(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	portstest.Run(t, func(t *testing.T) ports.Store {
		s := openAt(t, filepath.Join(t.TempDir(), "colony.db"))
		t.Cleanup(func() {
			if err := s.Close(context.Background()); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return s
	})
}

func TestReopenKeepsData(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sub", "colony.db") // Open creates the directory
	now := time.UnixMilli(1_700_000_000_000).UTC()
	k := stream.Key{App: "LiveApp", ID: "cam1"}
	b := stream.NewBroadcast(k, now)
	b.Ladder = []stream.Rendition{{Height: 720, VideoBitrate: 2_000_000}}
	n := node.Node{ID: "n1", Role: node.RoleBoth, LastSeen: now}

	s := openAt(t, path)
	if err := s.CreateBroadcast(ctx, b); err != nil {
		t.Fatalf("CreateBroadcast: %v", err)
	}
	if err := s.Register(ctx, n); err != nil {
		t.Fatalf("Register: %v", err)
	}
	if _, err := s.Claim(ctx, origin.Claim{Stream: k, Node: "n1", RenewedAt: now}, time.Minute); err != nil {
		t.Fatalf("Claim: %v", err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Ping(ctx); !errors.Is(err, ports.ErrUnavailable) {
		t.Fatalf("Ping after Close: err = %v, want ports.ErrUnavailable", err)
	}

	s = openAt(t, path)
	t.Cleanup(func() { _ = s.Close(ctx) })
	got, err := s.Broadcast(ctx, k)
	if err != nil {
		t.Fatalf("Broadcast after reopen: %v", err)
	}
	if got.Name != b.Name || !got.CreatedAt.Equal(now) || len(got.Ladder) != 1 || got.Ladder[0] != b.Ladder[0] {
		t.Fatalf("Broadcast after reopen = %+v, want %+v", got, b)
	}
	nodes, err := s.Nodes(ctx)
	if err != nil || len(nodes) != 1 || nodes[0].ID != "n1" {
		t.Fatalf("Nodes after reopen = %+v, %v; want n1", nodes, err)
	}
	c, err := s.Origin(ctx, k)
	if err != nil || c.Node != "n1" || !c.ClaimedAt.Equal(now) {
		t.Fatalf("Origin after reopen = %+v, %v; want n1's claim at %v", c, err, now)
	}
}

func TestOpenInUse(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "colony.db")
	s := openAt(t, path)
	t.Cleanup(func() { _ = s.Close(context.Background()) })

	start := time.Now()
	second, err := Open(path, Options{Timeout: 100 * time.Millisecond})
	if err == nil {
		_ = second.Close(context.Background())
		t.Fatal("second Open of a held file succeeded, want ErrInUse")
	}
	if !errors.Is(err, ErrInUse) {
		t.Fatalf("second Open: err = %v, want ErrInUse", err)
	}
	if want := "data directory " + dir + " is in use by another colony process"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Errorf("second Open took %v, want about its 100ms timeout", waited)
	}

	// Once the first store closes, the file opens again.
	if err := s.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s = openAt(t, path)
	if err := s.Ping(context.Background()); err != nil {
		t.Fatalf("Ping after reopen: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open("", Options{}); err == nil {
		t.Error("Open(\"\") succeeded")
	}
	// A path whose parent is a regular file cannot be created.
	file := filepath.Join(t.TempDir(), "colony.db")
	s := openAt(t, file)
	if err := s.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := Open(filepath.Join(file, "nested.db"), Options{}); err == nil {
		t.Error("Open under a regular file succeeded")
	}
}

func TestCanceledContext(t *testing.T) {
	s := openAt(t, filepath.Join(t.TempDir(), "colony.db"))
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Register(ctx, node.Node{ID: "n1"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Register with canceled context: err = %v, want context.Canceled", err)
	}
	if nodes, err := s.Nodes(context.Background()); err != nil || len(nodes) != 0 {
		t.Fatalf("Nodes = %v, %v; want none", nodes, err)
	}
}

func TestOpenNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "colony.db")
	s := openAt(t, path)
	err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keyVersion, binary.BigEndian.AppendUint64(nil, schemaVersion+1))
	})
	if err != nil {
		t.Fatalf("write version: %v", err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s, err = Open(path, Options{})
	if err == nil {
		_ = s.Close(context.Background())
		t.Fatal("Open of a newer schema succeeded")
	}
	if !errors.Is(err, ErrSchema) {
		t.Fatalf("Open: err = %v, want ErrSchema", err)
	}
	// The failed Open released the file.
	if _, err := Open(path, Options{Timeout: 100 * time.Millisecond}); errors.Is(err, ErrInUse) {
		t.Fatalf("file still locked after a failed Open: %v", err)
	}
}
