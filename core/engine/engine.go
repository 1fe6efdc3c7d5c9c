// Package engine holds Colony's use cases: publish, play, edge pull, and the
// node's life in the registry (register, heartbeat, sweep, drain). It
// reaches the world only through ports.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/core/node"
	"github.com/colony-live/colony/core/origin"
	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
)

// Config configures an Engine. Zero durations take the stated defaults.
type Config struct {
	// Self describes this node. Self.ID and Self.Role are required.
	Self node.Node
	// Apps are the applications this node serves (default LiveApp and WebRTCAppEE).
	Apps []stream.App
	// HeartbeatEvery is the heartbeat period (default node.DefaultHeartbeatEvery).
	HeartbeatEvery time.Duration
	// DeadAfter is when a silent node counts as dead (default node.DefaultDeadAfter).
	DeadAfter time.Duration
	// PurgeAfter is when a dead node is removed from the registry (default 1h).
	PurgeAfter time.Duration
	// PullIdleTimeout stops an edge pull that has had no viewers this long (default 30s).
	PullIdleTimeout time.Duration
	// PullRetryFor is how long an edge keeps re-resolving and re-pulling a
	// stream whose pull broke while it had viewers (default 60s: longer than
	// the 20 s a dead origin's claim takes to go stale).
	PullRetryFor time.Duration
	// DrainTimeout bounds how long shutdown waits for publishers to end (default 5s).
	DrainTimeout time.Duration
	// TranscodeRetry is the wait before transcoding a live stream again
	// after the transcoder failed or its renditions ended (default 2s); it
	// doubles with each failure in a row, up to 30s.
	TranscodeRetry time.Duration
	// CompanionIdle stops an audio companion (AAC bridged to Opus for
	// WebRTC viewers, or the reverse for HLS) that has had no readers this
	// long; the next viewer starts it again (default 30s).
	CompanionIdle time.Duration
	// Stream sizes each stream's fan-out buffers.
	Stream media.StreamConfig
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives the engine's logs (default slog.Default()).
	Logger *slog.Logger
}

// Deps are the ports an Engine drives. Store is required.
type Deps struct {
	Store ports.Store
	// Outputs attach to every stream that goes live here (HLS, WebRTC, relay server).
	Outputs []ports.Output
	// Viewers count viewers per protocol name ("hls", "webrtc", ...).
	Viewers map[string]ports.ViewerCounter
	// Auth decides on publishers and viewers (default: allow all).
	Auth ports.Authorizer
	// Load samples CPU and memory for heartbeats (default: none reported).
	Load ports.LoadSampler
	// Puller pulls streams from origins; nil on a standalone node.
	Puller ports.Puller
	// Relays counts, per stream, the nodes pulling it from this one (the
	// relay server): a pull that other edges of the group read from is not
	// idle. Nil: none.
	Relays ports.ViewerCounter
	// Transcoder encodes published streams into their ABR ladder (see
	// renditions.go); nil: nothing is transcoded.
	Transcoder ports.Transcoder
	// Ladder returns the ladder of a published stream; nil or an empty
	// ladder: the stream is not transcoded.
	Ladder LadderFunc
	// AudioBridge re-encodes AAC audio to Opus for OpusFor (WebRTC
	// viewers); nil: OpusFor always fails.
	AudioBridge ports.AudioBridge
}

// Engine implements ports.Ingest and ports.Playback for one node.
type Engine struct {
	cfg  Config
	deps Deps
	log  *slog.Logger
	apps map[stream.App]bool

	mu     sync.Mutex
	live   map[stream.Key]*entry
	ending map[stream.Key]int // publications between leaving live and recording their end
	pulls  map[stream.Key]*pull
	rends  map[stream.Key][]ports.Rendition // published renditions, by source
	family map[stream.Key]stream.Key        // on an edge: rendition -> its source, for idle pulls

	wg       sync.WaitGroup // pulls
	claimMu  sync.RWMutex   // Publish claims under RLock; releasing leftover claims holds Lock
	dbMu     sync.Mutex
	dbAvg    time.Duration // moving average of store round trips
	runCtx   context.Context
	runStop  context.CancelFunc
	stopping bool
}

// entry is one stream live on this node: published here, or pulled.
type entry struct {
	key         stream.Key
	publishType string
	pulled      bool
	started     chan struct{} // closed once s is set
	s           *media.Stream
	kick        chan struct{}
	kickOnce    sync.Once
	ended       chan struct{}
	idleSince   time.Time
	rendition   bool             // a transcoded rendition of a stream published here
	abr         *abrRun          // the transcoding of this publication, if any
	audio       *audioCompanions // its audio in other codecs (Opus for WebRTC, AAC for HLS), once asked for
}

func (e *entry) kickOut() { e.kickOnce.Do(func() { close(e.kick) }) }

// DefaultApps returns the applications every node has unless configured
// otherwise, as in Ant Media Server.
func DefaultApps() []stream.App { return []stream.App{"LiveApp", "WebRTCAppEE"} }

// New returns an Engine. Call Run to join the registry.
func New(cfg Config, deps Deps) (*Engine, error) {
	if deps.Store == nil {
		return nil, errors.New("engine: a store is required")
	}
	if cfg.Self.ID == "" {
		return nil, errors.New("engine: Self.ID is required")
	}
	if _, err := node.ParseRole(string(cfg.Self.Role)); err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	if cfg.Self.Role == "" {
		cfg.Self.Role = node.RoleBoth
	}
	if cfg.Self.Group == "" {
		cfg.Self.Group = node.DefaultGroup
	}
	if len(cfg.Apps) == 0 {
		cfg.Apps = DefaultApps()
	}
	setDefault(&cfg.HeartbeatEvery, node.DefaultHeartbeatEvery)
	setDefault(&cfg.DeadAfter, node.DefaultDeadAfter)
	setDefault(&cfg.PurgeAfter, time.Hour)
	setDefault(&cfg.PullIdleTimeout, 30*time.Second)
	setDefault(&cfg.CompanionIdle, 30*time.Second)
	setDefault(&cfg.PullRetryFor, 60*time.Second)
	setDefault(&cfg.DrainTimeout, 5*time.Second)
	setDefault(&cfg.TranscodeRetry, 2*time.Second)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if deps.Auth == nil {
		deps.Auth = allowAll{}
	}
	e := &Engine{
		cfg: cfg, deps: deps, log: cfg.Logger,
		apps:   make(map[stream.App]bool),
		live:   make(map[stream.Key]*entry),
		ending: make(map[stream.Key]int),
		pulls:  make(map[stream.Key]*pull),
		rends:  make(map[stream.Key][]ports.Rendition),
		family: make(map[stream.Key]stream.Key),
	}
	for _, a := range cfg.Apps {
		e.apps[a] = true
	}
	e.runCtx, e.runStop = context.WithCancel(context.Background())
	return e, nil
}

func setDefault(d *time.Duration, v time.Duration) {
	if *d <= 0 {
		*d = v
	}
}

// Self returns this node's description.
func (e *Engine) Self() node.Node { return e.cfg.Self }

// Apps returns the applications served.
func (e *Engine) Apps() []stream.App { return append([]stream.App(nil), e.cfg.Apps...) }

// HasApp reports whether app is served here.
func (e *Engine) HasApp(app stream.App) bool { return e.apps[app] }

// Store returns the engine's store (for read-only use by the REST adapter).
func (e *Engine) Store() ports.Store { return e.deps.Store }

// LiveStream describes a stream live on this node.
type LiveStream struct {
	Key         stream.Key
	PublishType string
	Pulled      bool
	// Rendition marks a transcoded rendition of a stream published here.
	Rendition bool
	Stream    *media.Stream // nil until the publisher's tracks are known
}

// Live lists the streams live on this node.
func (e *Engine) Live() []LiveStream {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]LiveStream, 0, len(e.live))
	for _, en := range e.live {
		out = append(out, LiveStream{Key: en.key, PublishType: en.publishType, Pulled: en.pulled, Rendition: en.rendition, Stream: en.s})
	}
	return out
}

// Stop disconnects the publisher of key on this node. It reports whether there was one.
func (e *Engine) Stop(key stream.Key) bool {
	e.mu.Lock()
	en, ok := e.live[key]
	e.mu.Unlock()
	if !ok || en.pulled || en.rendition {
		return false
	}
	en.kickOut()
	return true
}

// viewers sums the viewers of key over every protocol.
func (e *Engine) viewers(key stream.Key) (total int, per map[string]int) {
	per = make(map[string]int, len(e.deps.Viewers))
	for proto, c := range e.deps.Viewers {
		n := c.Viewers(key)
		per[proto] = n
		total += n
	}
	return total, per
}

// timed runs a store call and folds its duration into the DB query average.
func (e *Engine) timed(f func() error) error {
	start := time.Now()
	err := f()
	d := time.Since(start)
	e.dbMu.Lock()
	if e.dbAvg == 0 {
		e.dbAvg = d
	} else {
		e.dbAvg = (e.dbAvg*7 + d) / 8
	}
	e.dbMu.Unlock()
	return err
}

func (e *Engine) dbAverage() time.Duration {
	e.dbMu.Lock()
	defer e.dbMu.Unlock()
	return e.dbAvg
}

// storeCtx is the context for store writes that must outlive a request.
func storeCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 5*time.Second)
}

type allowAll struct{}

func (allowAll) AuthorizePublish(context.Context, ports.PublishRequest) error { return nil }
func (allowAll) AuthorizePlay(context.Context, ports.PlayRequest) error       { return nil }

// originClaim returns the claim a new publisher makes.
func (e *Engine) newClaim(key stream.Key) origin.Claim {
	now := e.cfg.Now()
	return origin.Claim{Stream: key, Node: e.cfg.Self.ID, RelayAddr: e.cfg.Self.InternalAddr, ClaimedAt: now, RenewedAt: now}
}

// LocalStream implements ports.LocalStreams: streams published here (or
// pulled here), once their tracks are known.
func (e *Engine) LocalStream(key stream.Key) (*media.Stream, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	en, ok := e.live[key]
	if !ok || en.s == nil {
		return nil, false
	}
	return en.s, true
}
