package rest

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// Plugins is the transcoder plugin host as the API sees it (cmd adapts
// the plugin host to it).
type Plugins interface {
	// Plugins lists the installed plugins, by name.
	Plugins() ([]PluginInfo, error)
	// Active returns the plugin new transcoding sessions use, "" until
	// one is chosen (at the first session, or by Activate).
	Active() string
	// Probe starts plugin name and asks it for a trial encode. A failed
	// trial is not an error: OK is false and Reason says why.
	Probe(ctx context.Context, name string) (PluginProbe, error)
	// Activate probes plugin name and, if it works here, makes new
	// sessions use it at once and moves running ones to it at their next
	// keyframe. It fails with ErrPluginUnavailable when the probe fails.
	Activate(ctx context.Context, name string) error
}

// Errors a Plugins returns (wrapped).
var (
	// ErrUnknownPlugin: no such plugin is installed.
	ErrUnknownPlugin = errors.New("unknown transcoder plugin")
	// ErrPluginUnavailable: the plugin cannot work on this machine.
	ErrPluginUnavailable = errors.New("transcoder plugin unavailable")
)

// PluginInfo describes an installed plugin.
type PluginInfo struct {
	Name   string `json:"name"`
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
}

// PluginProbe is a plugin's answer to a probe.
type PluginProbe struct {
	Name     string   `json:"name"`
	Version  string   `json:"version"`
	Encoder  string   `json:"encoder"`
	Codecs   []string `json:"codecs"`
	Hardware bool     `json:"hardware"`
	OK       bool     `json:"ok"`
	Reason   string   `json:"reason,omitempty"`
}

// PluginList is the answer of GET /rest/v2/plugins.
type PluginList struct {
	Active  string       `json:"active"`
	Plugins []PluginInfo `json:"plugins"`
}

// pluginProbeTimeout bounds a probe or an activation over the API.
const pluginProbeTimeout = 45 * time.Second

// plugins guards the plugin handlers: 501 without a plugin host.
func (s *Server) plugins(h func(http.ResponseWriter, *http.Request, Plugins)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.Plugins == nil {
			fail(w, http.StatusNotImplemented, "no transcoder plugin host configured")
			return
		}
		h(w, r, s.cfg.Plugins)
	}
}

// listPlugins answers GET /rest/v2/plugins.
func (s *Server) listPlugins(w http.ResponseWriter, _ *http.Request, p Plugins) {
	list, err := p.Plugins()
	if err != nil {
		s.log.Warn("cannot list transcoder plugins", "err", err)
		fail(w, http.StatusInternalServerError, "cannot list plugins: "+err.Error())
		return
	}
	if list == nil {
		list = []PluginInfo{}
	}
	writeJSON(w, http.StatusOK, PluginList{Active: p.Active(), Plugins: list})
}

// probePlugin answers GET /rest/v2/plugins/{name}/probe.
func (s *Server) probePlugin(w http.ResponseWriter, r *http.Request, p Plugins) {
	ctx, cancel := context.WithTimeout(r.Context(), pluginProbeTimeout)
	defer cancel()
	pr, err := p.Probe(ctx, r.PathValue("name"))
	if err != nil {
		pluginError(w, err)
		return
	}
	if pr.Codecs == nil {
		pr.Codecs = []string{}
	}
	writeJSON(w, http.StatusOK, pr)
}

// activatePlugin answers PUT /rest/v2/plugins/active {"name": ...}.
func (s *Server) activatePlugin(w http.ResponseWriter, r *http.Request, p Plugins) {
	var body struct {
		Name string `json:"name"`
	}
	if err := decodeBody(w, r, &body); err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	if body.Name == "" {
		fail(w, http.StatusBadRequest, "name is required")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), pluginProbeTimeout)
	defer cancel()
	if err := p.Activate(ctx, body.Name); err != nil {
		pluginError(w, err)
		return
	}
	s.log.Info("transcoder plugin activated over the API", "plugin", body.Name)
	writeJSON(w, http.StatusOK, Result{Success: true, DataID: body.Name})
}

func pluginError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, ErrUnknownPlugin):
		fail(w, http.StatusNotFound, err.Error())
	case errors.Is(err, ErrPluginUnavailable):
		fail(w, http.StatusConflict, err.Error())
	default:
		fail(w, http.StatusBadGateway, err.Error())
	}
}
