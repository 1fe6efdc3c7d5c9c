// Package rest serves Colony's REST API v2 on Ant Media Server's paths and
// JSON shapes.
package rest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/colony-live/colony/core/node"
	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
)

// Node is what the API needs from the running node.
type Node interface {
	Self() node.Node
	HasApp(stream.App) bool
	Apps() []stream.App
	// Stop disconnects the publisher of a stream published here.
	Stop(stream.Key) bool
}

// Config configures the API. Only Version is expected; every other field
// has a default or leaves the endpoints that need it answering 501.
type Config struct {
	Version string
	// Access says who may call the API (default: loopback addresses only).
	Access AccessConfig
	// Settings keeps application settings and one-time tokens; nil: the
	// settings and token endpoints answer 501. The bbolt and mongo stores
	// implement it.
	Settings ports.Settings
	// Streams finds the streams live on this node, for stream-info (the
	// engine implements it). If it also implements RenditionLister, the
	// transcoded renditions are listed too. nil: stream-info uses the record.
	Streams ports.LocalStreams
	// Load measures CPU and memory for system-status (procfs.New; give the
	// API its own sampler: Sample measures since the previous call). nil:
	// system-status reports this node's last heartbeat.
	Load ports.LoadSampler
	// Plugins is the transcoder plugin host, for /rest/v2/plugins; nil:
	// those endpoints answer 501.
	Plugins Plugins
	// Viewers counts this node's viewers per stream and protocol, for
	// broadcast-statistics on a standalone node (the engine implements
	// it); nil: the broadcast record's counts. A cluster node (one with
	// Forward.Secret) sums every node's counts from the registry instead.
	Viewers ViewerCounter
	// Forward hands calls about a live stream to its origin (cluster
	// nodes); the zero value answers every call here.
	Forward ForwardConfig
	// Meter sets how the bitrate of the streams published here is measured
	// (Run measures it).
	Meter MeterConfig
	// DiskPath is the file system system-status reports on (default ".").
	DiskPath string
	// DeadAfter is the node liveness window (default node.DefaultDeadAfter).
	DeadAfter time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger (default slog.Default()).
	Logger *slog.Logger
}

// RenditionLister is implemented by a Config.Streams that also knows the
// transcoded renditions of the streams it serves.
type RenditionLister interface {
	Renditions(key stream.Key) []ports.Rendition
}

// Server holds the handlers.
type Server struct {
	cfg     Config
	node    Node
	catalog ports.StreamCatalog
	nodes   ports.NodeRegistry
	access  access
	log     *slog.Logger
	// failures limits failed logins and bad tokens per client address.
	failures *failureLimiter
	// meter measures the bitrate of the streams published here.
	meter *meter
}

// New returns the API over a node and its store.
func New(cfg Config, n Node, catalog ports.StreamCatalog, nodes ports.NodeRegistry) (*Server, error) {
	if n == nil || catalog == nil || nodes == nil {
		return nil, errors.New("rest: node, catalog and registry are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.DeadAfter == 0 {
		cfg.DeadAfter = node.DefaultDeadAfter
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Forward.Timeout <= 0 {
		cfg.Forward.Timeout = DefaultForwardTimeout
	}
	if cfg.Forward.Client == nil {
		cfg.Forward.Client = &http.Client{
			Timeout:       cfg.Forward.Timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if cfg.DiskPath == "" {
		cfg.DiskPath = "."
	}
	acc, err := cfg.Access.compile()
	if err != nil {
		return nil, fmt.Errorf("rest: %w", err)
	}
	return &Server{cfg: cfg, node: n, catalog: catalog, nodes: nodes, access: acc, log: cfg.Logger,
		failures: newFailureLimiter(acc.failures, acc.backoff), meter: newMeter(cfg.Meter)}, nil
}

// Register mounts the API routes on mux. Every route but liveness, the
// OpenAPI document and the login goes through access control.
func (s *Server) Register(mux *http.ServeMux) {
	for _, rt := range s.routes() {
		h := rt.handler
		if !rt.open {
			h = s.guard(h)
		}
		mux.HandleFunc(rt.method+" "+rt.path, h)
	}
}

// Result is Ant Media's operation result.
type Result struct {
	Success bool   `json:"success"`
	Message string `json:"message,omitempty"`
	DataID  string `json:"dataId,omitempty"`
	ErrorID int    `json:"errorId,omitempty"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, Result{Success: false, Message: msg})
}

// maxBody bounds request bodies.
const maxBody = 1 << 20

// errEmptyBody is returned by decodeBody for an empty body.
var errEmptyBody = errors.New("empty body")

// decodeBody reads r's JSON body into v (unknown fields are ignored, as
// Ant Media clients send many). An empty body gives errEmptyBody.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return errEmptyBody
		}
		return fmt.Errorf("malformed JSON: %w", err)
	}
	if dec.More() {
		return errors.New("malformed JSON: trailing data after the object")
	}
	return nil
}

// app validates the {app} path value and the app's existence.
func (s *Server) app(h func(http.ResponseWriter, *http.Request, stream.App)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		app, err := stream.ParseApp(r.PathValue("app"))
		if err != nil || !s.node.HasApp(app) {
			fail(w, http.StatusNotFound, "unknown application")
			return
		}
		h(w, r, app)
	}
}

// stream validates {app} and {id}.
func (s *Server) stream(h func(http.ResponseWriter, *http.Request, stream.Key)) http.HandlerFunc {
	return s.app(func(w http.ResponseWriter, r *http.Request, app stream.App) {
		id, err := stream.ParseID(r.PathValue("id"))
		if err != nil {
			fail(w, http.StatusBadRequest, err.Error())
			return
		}
		h(w, r, stream.Key{App: app, ID: id})
	})
}

func (s *Server) liveness(w http.ResponseWriter, r *http.Request) {
	self := s.node.Self()
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "node": self.ID, "role": self.Role, "version": s.cfg.Version})
}

func (s *Server) version(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"versionName": s.cfg.Version, "versionType": "Colony", "buildNumber": s.cfg.Version})
}

// paging parses {offset}/{size}: offset >= 0, 1 <= size <= 50 as Ant Media caps it.
func paging(r *http.Request) (offset, size int, ok bool) {
	o, err1 := strconv.Atoi(r.PathValue("offset"))
	n, err2 := strconv.Atoi(r.PathValue("size"))
	if err1 != nil || err2 != nil || o < 0 || n < 1 {
		return 0, 0, false
	}
	return o, min(n, 50), true
}

func storeError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, ports.ErrNotFound):
		fail(w, http.StatusNotFound, "not found")
	case errors.Is(err, ports.ErrUnavailable):
		fail(w, http.StatusServiceUnavailable, "store unavailable")
	case errors.Is(err, ports.ErrConflict):
		fail(w, http.StatusConflict, "concurrent update; retry")
	default:
		fail(w, http.StatusInternalServerError, "internal error")
	}
}
