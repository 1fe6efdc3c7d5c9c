package pluginhost

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"
)

// Host runs transcoder plugins. Each transcoding session gets its own
// plugin process, so a crash touches one session only. Close kills every
// plugin and waits for every goroutine.
type Host struct {
	cfg  Config
	log  *slog.Logger
	hlog hclog.Logger

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // sessions, Prepare

	resolveMu sync.Mutex // one lazy Select at a time

	mu       sync.Mutex
	current  string // plugin for new sessions, "" until resolved
	sessions map[*session]struct{}
	procs    map[*proc]struct{}
	seq      int
	closed   bool
}

// New returns a host for the plugins in cfg.Dir. It starts nothing:
// Prepare, Select or the first session selects the plugin.
func New(cfg Config) (*Host, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if _, err := discover(cfg.Dir); err != nil {
		return nil, err
	}
	log := cfg.Logger.With("component", "pluginhost")
	ctx, cancel := context.WithCancel(context.Background())
	h := &Host{cfg: cfg, log: log, hlog: newHCLog(log).Named("plugin"), ctx: ctx, cancel: cancel,
		sessions: map[*session]struct{}{}, procs: map[*proc]struct{}{}}
	if cfg.Plugin != Auto {
		if _, err := h.lookup(cfg.Plugin); err != nil {
			cancel()
			return nil, err
		}
	}
	return h, nil
}

// List returns the names of the plugins in the plugin directory, sorted.
// The directory is read again at each call.
func (h *Host) List() []string {
	found, err := discover(h.cfg.Dir)
	if err != nil {
		h.log.Warn("cannot list transcoder plugins", "error", err)
		return nil
	}
	return sortedNames(found)
}

func (h *Host) lookup(name string) (string, error) {
	found, err := discover(h.cfg.Dir)
	if err != nil {
		return "", err
	}
	path, ok := found[name]
	if !ok {
		return "", fmt.Errorf("%w: %q: no executable %s in %s", ErrUnknownPlugin, name, binaryName(name), h.cfg.Dir)
	}
	return path, nil
}

// Current returns the plugin new sessions use, or "" before it is resolved
// (by Select, Swap or the first Transcode).
func (h *Host) Current() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.current
}

// Swap makes new sessions use plugin name at once, and moves each running
// session to it at the session's next source keyframe. It does not probe.
func (h *Host) Swap(name string) error {
	if _, err := h.lookup(name); err != nil {
		return err
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return ErrClosed
	}
	prev := h.current
	h.current = name
	ss := make([]*session, 0, len(h.sessions))
	for s := range h.sessions {
		ss = append(ss, s)
	}
	h.mu.Unlock()
	if prev != name {
		h.log.Info("transcoder plugin swapped", "from", prev, "to", name, "running_sessions", len(ss))
	}
	for _, s := range ss {
		s.swap(name)
	}
	return nil
}

// Select resolves want (Auto or a plugin name), probes it, and Swaps to
// it. Auto takes the first GPU plugin whose probe passes (nvenc, then qsv,
// then others by name), else ffmpeg; it logs which and why. It returns the
// plugin chosen.
func (h *Host) Select(ctx context.Context, want string) (string, error) {
	if want == "" || want == Auto {
		return h.selectAuto(ctx)
	}
	pr, err := h.Probe(ctx, want)
	if err != nil {
		return "", err
	}
	if !pr.OK {
		return "", fmt.Errorf("%w: %s: %s", ErrUnavailable, want, pr.Reason)
	}
	h.log.Info("transcoder plugin selected", "plugin", want, "encoder", pr.Encoder, "why", "configured by name, probe passed")
	return want, h.Swap(want)
}

// autoOrder puts the GPU candidates first (nvenc, qsv, then the rest by
// name) and ffmpeg last.
func autoOrder(names []string) []string {
	rank := func(n string) int {
		switch n {
		case "nvenc":
			return 0
		case "qsv":
			return 1
		case "ffmpeg":
			return 3
		}
		return 2
	}
	out := slices.Clone(names)
	slices.SortStableFunc(out, func(a, b string) int { return rank(a) - rank(b) })
	return out
}

func (h *Host) selectAuto(ctx context.Context) (string, error) {
	names := autoOrder(h.List())
	if len(names) == 0 {
		return "", fmt.Errorf("%w: no %s* executable in %s", ErrNoPlugin, binaryName(""), h.cfg.Dir)
	}
	type result struct {
		pr  Probe
		err error
	}
	results := make([]result, len(names))
	var wg sync.WaitGroup
	for i, n := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i].pr, results[i].err = h.Probe(ctx, n)
		}()
	}
	wg.Wait()
	var why []string
	software := ""
	for i, n := range names {
		r := results[i]
		switch {
		case r.err != nil:
			why = append(why, fmt.Sprintf("%s: %v", n, r.err))
		case r.pr.Hardware && r.pr.OK:
			h.log.Info("transcoder plugin selected", "plugin", n, "encoder", r.pr.Encoder,
				"why", "first GPU plugin whose probe passed", "skipped", strings.Join(why, "; "))
			return n, h.Swap(n)
		case r.pr.Hardware:
			why = append(why, fmt.Sprintf("%s: %s", n, r.pr.Reason))
		case !r.pr.OK:
			why = append(why, fmt.Sprintf("%s: %s", n, r.pr.Reason))
		case software == "" || n == "ffmpeg":
			software = n
		}
	}
	if software == "" {
		return "", fmt.Errorf("%w: %s", ErrNoPlugin, strings.Join(why, "; "))
	}
	h.log.Info("transcoder plugin selected", "plugin", software, "why", "no GPU plugin passed its probe",
		"skipped", strings.Join(why, "; "))
	return software, h.Swap(software)
}

// Prepare selects Config.Plugin now, in a goroutine the host owns (Close
// stops and waits for it), so that the first session does not wait for
// the probes. Auto probes every plugin, starting each and an ffmpeg test
// encode: about a second, and a burst of CPU that would otherwise land on
// the first viewer or publisher to need a transcoder, and on everyone
// joining beside it. A selection that fails is logged, and the first
// session tries again.
func (h *Host) Prepare() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.wg.Add(1)
	h.mu.Unlock()
	go func() {
		defer h.wg.Done()
		if _, err := h.resolve(h.ctx); err != nil && h.ctx.Err() == nil {
			h.log.Warn("no transcoder plugin selected at start-up: the first session tries again", "err", err)
		}
	}()
}

// resolve returns the plugin for a new session, selecting Config.Plugin
// at the first call.
func (h *Host) resolve(ctx context.Context) (string, error) {
	if cur := h.Current(); cur != "" {
		return cur, nil
	}
	h.resolveMu.Lock()
	defer h.resolveMu.Unlock()
	if cur := h.Current(); cur != "" {
		return cur, nil
	}
	return h.Select(ctx, h.cfg.Plugin)
}

// Sessions describes the running sessions.
func (h *Host) Sessions() []SessionInfo {
	h.mu.Lock()
	ss := make([]*session, 0, len(h.sessions))
	for s := range h.sessions {
		ss = append(ss, s)
	}
	h.mu.Unlock()
	out := make([]SessionInfo, 0, len(ss))
	for _, s := range ss {
		out = append(out, s.info())
	}
	slices.SortFunc(out, func(a, b SessionInfo) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Close ends every session (their renditions end), kills every plugin and
// waits for all goroutines. It is idempotent.
func (h *Host) Close() error {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	h.cancel()
	h.wg.Wait()
	h.mu.Lock()
	procs := make([]*proc, 0, len(h.procs))
	for p := range h.procs {
		procs = append(procs, p)
	}
	h.mu.Unlock()
	for _, p := range procs {
		h.kill(p)
	}
	return nil
}

// track registers a plugin process; false once the host is closed.
func (h *Host) track(p *proc) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.procs[p] = struct{}{}
	return true
}

func (h *Host) untrack(p *proc) {
	h.mu.Lock()
	delete(h.procs, p)
	h.mu.Unlock()
}

func binaryName(name string) string { return "colony-transcoder-" + name }
