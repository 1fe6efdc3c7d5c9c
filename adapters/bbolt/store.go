// Package bbolt is the standalone store: every ports.Store record in one embedded bbolt file.
package bbolt

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/colony-live/colony/ports"
)

// DefaultTimeout is how long Open waits for the file lock when Options.Timeout is zero.
const DefaultTimeout = time.Second

// schemaVersion is the layout of the file this package writes (see schema.go).
const schemaVersion = 1

// Bucket names. Keys: node id; "app/id" of the stream (claims, broadcasts);
// "app/id#node" (carriers); "version" in meta.
var (
	bucketMeta       = []byte("meta")
	bucketNodes      = []byte("nodes")
	bucketClaims     = []byte("claims")
	bucketBroadcasts = []byte("broadcasts")
	bucketCarriers   = []byte("carriers")
	keyVersion       = []byte("version")
)

// ErrInUse is returned (wrapped) by Open when another process holds the file.
var ErrInUse = errors.New("is in use by another colony process")

// ErrSchema is returned (wrapped) by Open for a file written by a newer release.
var ErrSchema = errors.New("unsupported store schema version")

// Options tunes Open.
type Options struct {
	// Timeout is how long Open waits for another process to release the file
	// before failing with ErrInUse. Zero means DefaultTimeout (1s).
	Timeout time.Duration
	// NoSync skips fsync after each write: faster, loses the last writes on a
	// power cut. For tests; default false.
	NoSync bool
}

// Store is a ports.Store kept in one bbolt file. Its methods are safe for
// concurrent use: bbolt runs one writer at a time, so every read-modify-write
// (claims, broadcast updates) is atomic.
type Store struct {
	db *bolt.DB
}

var _ ports.Store = (*Store)(nil)

// Open opens (creating it and its directory when missing) the store file at path.
func Open(path string, opts Options) (*Store, error) {
	if path == "" {
		return nil, errors.New("bbolt: empty store path")
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("bbolt: create data directory: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.Timeout, NoSync: opts.NoSync})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("bbolt: data directory %s %w (%s stayed locked for %s)", dir, ErrInUse, path, opts.Timeout)
	}
	if err != nil {
		return nil, fmt.Errorf("bbolt: open %s: %w", path, err)
	}
	if err := db.Update(initBuckets); err != nil {
		return nil, errors.Join(fmt.Errorf("bbolt: init %s: %w", path, err), db.Close())
	}
	return &Store{db: db}, nil
}

// initBuckets creates the buckets and checks or stamps the schema version.
func initBuckets(tx *bolt.Tx) error {
	for _, name := range [][]byte{bucketMeta, bucketNodes, bucketClaims, bucketBroadcasts, bucketCarriers} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	meta := tx.Bucket(bucketMeta)
	if v := meta.Get(keyVersion); v != nil {
		if len(v) != 8 {
			return fmt.Errorf("%w: malformed version", ErrSchema)
		}
		if got := binary.BigEndian.Uint64(v); got != schemaVersion {
			return fmt.Errorf("%w %d (this release reads %d)", ErrSchema, got, schemaVersion)
		}
		return nil
	}
	return meta.Put(keyVersion, binary.BigEndian.AppendUint64(nil, schemaVersion))
}

// Ping checks that the file is open and readable.
func (s *Store) Ping(ctx context.Context) error {
	return s.view(ctx, "ping", func(tx *bolt.Tx) error {
		if tx.Bucket(bucketMeta) == nil {
			return errors.New("meta bucket missing")
		}
		return nil
	})
}

// Close closes the file, waiting for transactions in progress.
func (s *Store) Close(context.Context) error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("bbolt: close: %w", err)
	}
	return nil
}

// view runs fn in a read transaction after checking ctx, wrapping errors with op.
func (s *Store) view(ctx context.Context, op string, fn func(*bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("bbolt: %s: %w", op, err)
	}
	return wrap(op, s.db.View(fn))
}

// update runs fn in a write transaction after checking ctx, wrapping errors with op.
func (s *Store) update(ctx context.Context, op string, fn func(*bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("bbolt: %s: %w", op, err)
	}
	return wrap(op, s.db.Update(fn))
}

// wrap prefixes err with the operation and maps a closed database to
// ports.ErrUnavailable.
func wrap(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, berrors.ErrDatabaseNotOpen):
		return fmt.Errorf("bbolt: %s: %w: %w", op, ports.ErrUnavailable, err)
	}
	return fmt.Errorf("bbolt: %s: %w", op, err)
}
