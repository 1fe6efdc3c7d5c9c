// Package mongo is the cluster store: ports.Store on MongoDB (or a
// MongoDB-wire server such as FerretDB), without transactions, TTL indexes
// or change streams.
package mongo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
	"go.mongodb.org/mongo-driver/mongo/readpref"

	"github.com/colony-live/colony/ports"
)

// Defaults of Config.
const (
	DefaultDatabase       = "colony"
	DefaultConnectTimeout = 10 * time.Second
	DefaultOpTimeout      = 5 * time.Second
)

// Config configures Open.
type Config struct {
	// URI is the connection string, as ParseTarget builds it. Required.
	URI string
	// Database holds Colony's collections. Default DefaultDatabase.
	Database string
	// ConnectTimeout bounds Open (connecting, the first ping, creating
	// indexes) and each later server selection. Default DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// OpTimeout bounds each store call. Default DefaultOpTimeout.
	OpTimeout time.Duration
	// Logger receives connection events (never credentials). Default: discard.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Database == "" {
		c.Database = DefaultDatabase
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.OpTimeout <= 0 {
		c.OpTimeout = DefaultOpTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Store is ports.Store on a MongoDB database. It is safe for concurrent use.
type Store struct {
	cfg    Config
	red    redactor
	client *mongo.Client
	retry  retryPolicy

	nodes      *mongo.Collection
	claims     *mongo.Collection
	broadcasts *mongo.Collection
	streamInfo *mongo.Collection
	carriers   *mongo.Collection
}

var _ ports.Store = (*Store)(nil)

// Open connects to cfg.URI, checks that the server answers and creates the
// indexes (idempotently). Every error wraps a message free of credentials;
// one that means the server could not be reached wraps ports.ErrUnavailable.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	cfg = cfg.withDefaults()
	red := newRedactor(cfg.URI)
	if cfg.URI == "" {
		return nil, red.wrap("open", nil, errors.New("no URI configured"))
	}
	opts := options.Client().ApplyURI(cfg.URI).
		SetAppName("colony").
		SetConnectTimeout(cfg.ConnectTimeout).
		SetServerSelectionTimeout(cfg.ConnectTimeout)
	client, err := mongo.Connect(ctx, opts)
	if err != nil {
		return nil, red.wrap("connect to "+Redact(cfg.URI), nil, err)
	}
	s := newStore(cfg, red, client)
	ctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	defer cancel()
	err = s.ping(ctx)
	if err == nil {
		err = s.ensureIndexes(ctx)
	}
	if err != nil {
		_ = client.Disconnect(context.Background())
		return nil, red.wrap("open "+Redact(cfg.URI), nil, err)
	}
	cfg.Logger.Info("connected to MongoDB", "uri", Redact(cfg.URI), "database", cfg.Database)
	return s, nil
}

func newStore(cfg Config, red redactor, client *mongo.Client) *Store {
	db := client.Database(cfg.Database)
	return &Store{
		cfg:        cfg,
		red:        red,
		client:     client,
		retry:      defaultRetry,
		nodes:      db.Collection(collNodes),
		claims:     db.Collection(collClaims),
		broadcasts: db.Collection(collBroadcasts),
		streamInfo: db.Collection(collStreamInfo),
		carriers:   db.Collection(collCarriers),
	}
}

// Ping checks that the server answers within the operation timeout.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	return s.fail("ping", s.ping(ctx))
}

func (s *Store) ping(ctx context.Context) error {
	return s.client.Ping(ctx, readpref.Primary())
}

// Close disconnects from the server, ending the driver's goroutines.
func (s *Store) Close(ctx context.Context) error {
	return s.fail("close", s.client.Disconnect(ctx))
}

// opCtx bounds one store call by the operation timeout.
func (s *Store) opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.cfg.OpTimeout)
}

// fail wraps a driver error for op (nil stays nil), mapping it to a ports
// sentinel where one applies and scrubbing credentials from its message.
func (s *Store) fail(op string, err error) error {
	return s.red.wrap(op, nil, err)
}

// failAs wraps err for op with the given sentinel.
func (s *Store) failAs(op string, kind, err error) error {
	return s.red.wrap(op, kind, err)
}

// index describes one secondary index.
type index struct {
	coll *mongo.Collection
	name string
	keys bson.D
}

// ensureIndexes creates the secondary indexes; existing ones are kept.
func (s *Store) ensureIndexes(ctx context.Context) error {
	asc := func(fields ...string) bson.D {
		d := make(bson.D, 0, len(fields))
		for _, f := range fields {
			d = append(d, bson.E{Key: f, Value: 1})
		}
		return d
	}
	for _, ix := range []index{
		{s.nodes, "lastSeen", asc("lastSeen")},
		{s.claims, "node", asc("node")},
		{s.broadcasts, "app_status", asc("app", "status")},
		{s.broadcasts, "app_createdAt", asc("app", "createdAt")},
		{s.broadcasts, "status", asc("status")},
		{s.streamInfo, "app_streamId", asc("app", "streamId")},
		{s.carriers, "stream", asc("stream")},
		{s.carriers, "node", asc("node")},
	} {
		model := mongo.IndexModel{Keys: ix.keys, Options: options.Index().SetName(ix.name)}
		if _, err := ix.coll.Indexes().CreateOne(ctx, model); err != nil {
			return fmt.Errorf("create index %s.%s: %w", ix.coll.Name(), ix.name, err)
		}
	}
	return nil
}
