package balancer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/colony-live/colony/core/node"
)

// NodeLister lists the cluster's nodes (ports.NodeRegistry is one).
type NodeLister interface {
	Nodes(ctx context.Context) ([]node.Node, error)
}

// DefaultEvery is how often a Watcher reads the registry.
const DefaultEvery = 2 * time.Second

// WatchConfig configures a Watcher.
type WatchConfig struct {
	// Render says what to render (required).
	Render Config
	// Path is the balancer's configuration file, kept up to date (required).
	Path string
	// Every is the registry polling period (default DefaultEvery).
	Every time.Duration
	// Validate checks a new file before it replaces Path (required; see Validator).
	Validate ValidateFunc
	// Reload makes the balancer read Path again (required; see Reloader).
	Reload ReloadFunc
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger (default slog.Default()).
	Logger *slog.Logger
}

// Outcome is what one Sync did.
type Outcome int

// The outcomes of Sync.
const (
	Unchanged Outcome = iota // the render equals the file in place
	Replaced                 // a new file replaced the old one and the balancer reloaded
	Kept                     // the old file stays: no live node, a registry error, or the check refused the render
	Reloaded                 // the file was already in place; a reload that had failed succeeded now
)

func (o Outcome) String() string {
	switch o {
	case Unchanged:
		return "unchanged"
	case Replaced:
		return "replaced"
	case Kept:
		return "kept"
	case Reloaded:
		return "reloaded"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// Watcher keeps a balancer's configuration in step with the registry: it
// renders, and when the render differs from the file in place, validates
// it, swaps it in atomically (temporary file and rename) and reloads the
// balancer. A render that fails never replaces the file.
type Watcher struct {
	cfg   WatchConfig
	nodes NodeLister
	log   *slog.Logger

	// Owned by the goroutine calling Sync (Run's).
	reloadPending bool   // the file changed but the reload failed
	lastErr       string // last error logged, to log each error once
}

// NewWatcher checks cfg and returns a Watcher of nodes.
func NewWatcher(cfg WatchConfig, nodes NodeLister) (*Watcher, error) {
	if nodes == nil {
		return nil, errors.New("balancer: NewWatcher needs a NodeLister")
	}
	if cfg.Path == "" || cfg.Validate == nil || cfg.Reload == nil {
		return nil, invalid("watch needs a config path, a validate and a reload function")
	}
	rc := cfg.Render.withDefaults()
	if err := rc.validate(); err != nil {
		return nil, err
	}
	if cfg.Every <= 0 {
		cfg.Every = DefaultEvery
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Watcher{cfg: cfg, nodes: nodes, log: cfg.Logger.With("balancer", string(rc.Kind), "config", cfg.Path)}, nil
}

// Run syncs at once and then every cfg.Every until ctx is done. Failures
// are logged (each once, until another happens) and never stop it.
func (w *Watcher) Run(ctx context.Context) error {
	t := time.NewTicker(w.cfg.Every)
	defer t.Stop()
	for {
		w.logOutcome(w.Sync(ctx))
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (w *Watcher) logOutcome(o Outcome, err error) {
	switch {
	case err != nil:
		if msg := err.Error(); msg != w.lastErr {
			w.lastErr = msg
			w.log.Error("balancer config not updated", "outcome", o.String(), "err", err)
		}
		return
	case o == Replaced:
		w.log.Info("balancer config replaced and reloaded")
	case o == Reloaded:
		w.log.Info("balancer reloaded")
	}
	w.lastErr = ""
}

// Sync renders once and applies the render if it changed. With an error,
// the outcome says whether the file in place was kept (Kept) or replaced
// while the reload failed (Replaced, retried by the next Sync).
func (w *Watcher) Sync(ctx context.Context) (Outcome, error) {
	nodes, err := w.nodes.Nodes(ctx)
	if err != nil {
		return Kept, fmt.Errorf("read the registry: %w; keeping %s", err, w.cfg.Path)
	}
	out, err := Render(w.cfg.Render, nodes, w.cfg.Now())
	if err != nil {
		return Kept, fmt.Errorf("render: %w; keeping %s", err, w.cfg.Path)
	}
	// The file is read each time: one edited or removed by hand is put back.
	if current, err := os.ReadFile(w.cfg.Path); err == nil && bytes.Equal(out, current) {
		if !w.reloadPending {
			return Unchanged, nil
		}
		if err := w.cfg.Reload(ctx); err != nil {
			return Unchanged, fmt.Errorf("reload: %w", err)
		}
		w.reloadPending = false
		return Reloaded, nil
	}
	if err := w.replace(ctx, out); err != nil {
		return Kept, err
	}
	if err := w.cfg.Reload(ctx); err != nil {
		w.reloadPending = true
		return Replaced, fmt.Errorf("%s replaced, but the reload failed (retrying): %w", w.cfg.Path, err)
	}
	w.reloadPending = false
	return Replaced, nil
}

// replace validates out in a temporary file beside the target and renames
// it over the target.
func (w *Watcher) replace(ctx context.Context, out []byte) error {
	dir, base := filepath.Split(w.cfg.Path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".*.tmp")
	if err != nil {
		return fmt.Errorf("write the new config: %w", err)
	}
	tmp := f.Name()
	committed := false
	defer func() {
		if !committed {
			_ = os.Remove(tmp)
		}
	}()
	if _, err := f.Write(out); err != nil {
		f.Close()
		return fmt.Errorf("write the new config: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write the new config: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write the new config: %w", err)
	}
	if err := os.Chmod(tmp, 0o644); err != nil {
		return fmt.Errorf("write the new config: %w", err)
	}
	if err := w.cfg.Validate(ctx, tmp); err != nil {
		return fmt.Errorf("new config refused, keeping %s: %w", w.cfg.Path, err)
	}
	if err := os.Rename(tmp, w.cfg.Path); err != nil {
		return fmt.Errorf("install the new config: %w", err)
	}
	committed = true
	return nil
}
