// Package rest serves Colony's REST API v2 on Ant Media Server's paths and
// JSON shapes.
package rest

import (
	"encoding/json"
	"errors"
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

// Config configures the API.
type Config struct {
	Version   string
	DeadAfter time.Duration // node liveness window (default node.DefaultDeadAfter)
	Now       func() time.Time
	Logger    *slog.Logger
}

// Server holds the handlers.
type Server struct {
	cfg     Config
	node    Node
	catalog ports.StreamCatalog
	nodes   ports.NodeRegistry
	log     *slog.Logger
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
	return &Server{cfg: cfg, node: n, catalog: catalog, nodes: nodes, log: cfg.Logger}, nil
}

// Register mounts the API routes on mux.
func (s *Server) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /rest/v2/liveness", s.liveness)
	mux.HandleFunc("GET /rest/v2/version", s.version)
	mux.HandleFunc("GET /{app}/rest/v2/broadcasts/list/{offset}/{size}", s.app(s.listBroadcasts))
	mux.HandleFunc("GET /{app}/rest/v2/broadcasts/count", s.app(s.countBroadcasts))
	mux.HandleFunc("GET /{app}/rest/v2/broadcasts/active-live-stream-count", s.app(s.activeCount))
	mux.HandleFunc("GET /{app}/rest/v2/broadcasts/{id}", s.app(s.getBroadcast))
	mux.HandleFunc("POST /{app}/rest/v2/broadcasts/{id}/stop", s.app(s.stopBroadcast))
	mux.HandleFunc("GET /rest/v2/cluster/node-count", s.nodeCount)
	mux.HandleFunc("GET /rest/v2/cluster/nodes/{offset}/{size}", s.listNodes)
	mux.HandleFunc("DELETE /rest/v2/cluster/node/{id}", s.deleteNode)
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
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, Result{Success: false, Message: msg})
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
	default:
		fail(w, http.StatusInternalServerError, "internal error")
	}
}
