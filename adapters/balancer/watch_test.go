package balancer

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/colony-live/colony/core/node"
	"github.com/colony-live/colony/internal/syncbuf"
)

// fakeRegistry is a NodeLister whose answer the test sets.
type fakeRegistry struct {
	mu    sync.Mutex
	nodes []node.Node
	err   error
}

func (f *fakeRegistry) Nodes(context.Context) ([]node.Node, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]node.Node(nil), f.nodes...), f.err
}

func (f *fakeRegistry) set(nodes []node.Node, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nodes, f.err = nodes, err
}

// fakeBalancer records checks and reloads; its answers are set by the test.
type fakeBalancer struct {
	mu          sync.Mutex
	checked     [][]byte // content of each file checked
	checkedPath []string
	reloads     int
	checkErr    error
	reloadErr   error
}

func (b *fakeBalancer) validate(_ context.Context, path string) error {
	content, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.checked = append(b.checked, content)
	b.checkedPath = append(b.checkedPath, path)
	return b.checkErr
}

func (b *fakeBalancer) reload(context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.reloadErr == nil {
		b.reloads++
	}
	return b.reloadErr
}

func (b *fakeBalancer) counts() (checks, reloads int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.checked), b.reloads
}

type watchRig struct {
	reg  *fakeRegistry
	bal  *fakeBalancer
	w    *Watcher
	path string
	rc   Config
}

func newRig(t *testing.T) *watchRig {
	t.Helper()
	dir := t.TempDir()
	r := &watchRig{reg: &fakeRegistry{nodes: threeNodes()}, bal: &fakeBalancer{},
		path: filepath.Join(dir, "nginx.conf"), rc: Config{Kind: Nginx, Prefix: dir}}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	w, err := NewWatcher(WatchConfig{Render: r.rc, Path: r.path, Every: 5 * time.Millisecond,
		Validate: r.bal.validate, Reload: r.bal.reload, Now: func() time.Time { return now }, Logger: log}, r.reg)
	if err != nil {
		t.Fatal(err)
	}
	r.w = w
	return r
}

func (r *watchRig) file(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(r.path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func (r *watchRig) sync(t *testing.T, want Outcome) error {
	t.Helper()
	got, err := r.w.Sync(context.Background())
	if got != want {
		t.Fatalf("Sync = %v, %v; want %v", got, err, want)
	}
	return err
}

func (r *watchRig) expectRender(t *testing.T, nodes []node.Node) {
	t.Helper()
	want, err := Render(r.rc, nodes, now)
	if err != nil {
		t.Fatal(err)
	}
	if r.file(t) != string(want) {
		t.Fatalf("file in place is not the render of the registry:\n%s", r.file(t))
	}
}

func onlyConfigIn(t *testing.T, dir string) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".tmp") {
			t.Fatalf("temporary file left behind: %s", e.Name())
		}
	}
}

func TestWatcherReplacesOnChangeOnly(t *testing.T) {
	r := newRig(t)
	if err := r.sync(t, Replaced); err != nil {
		t.Fatal(err)
	}
	r.expectRender(t, threeNodes())
	if c, n := r.bal.counts(); c != 1 || n != 1 {
		t.Fatalf("checks %d, reloads %d after the first sync", c, n)
	}
	if p := r.bal.checkedPath[0]; p == r.path || filepath.Dir(p) != filepath.Dir(r.path) {
		t.Fatalf("checked %s: want a temporary file beside %s", p, r.path)
	}
	if string(r.bal.checked[0]) != r.file(t) {
		t.Fatal("the file checked is not the file installed")
	}
	for i := 0; i < 3; i++ {
		if err := r.sync(t, Unchanged); err != nil {
			t.Fatal(err)
		}
	}
	if c, n := r.bal.counts(); c != 1 || n != 1 {
		t.Fatalf("checks %d, reloads %d with no change", c, n)
	}
	// A node joins.
	joined := append(threeNodes(), mk("edge3", node.RoleEdge, "default", "10.0.0.4:5080", "", 0))
	r.reg.set(joined, nil)
	r.sync(t, Replaced)
	r.expectRender(t, joined)
	if !strings.Contains(r.file(t), "10.0.0.4:5080") {
		t.Fatal("the new edge is not in the file")
	}
	// A node dies: its heartbeat gets old.
	died := threeNodes()
	died[0].LastSeen = now.Add(-time.Minute)
	r.reg.set(died, nil)
	r.sync(t, Replaced)
	if strings.Contains(r.file(t), "10.0.0.3:5080") {
		t.Fatal("the dead edge is still in the file")
	}
	if c, n := r.bal.counts(); c != 3 || n != 3 {
		t.Fatalf("checks %d, reloads %d after two changes", c, n)
	}
	onlyConfigIn(t, filepath.Dir(r.path))
}

func TestWatcherKeepsTheFileInPlace(t *testing.T) {
	regErr := errors.New("connection refused")
	refused := &ValidationError{Output: "nginx: [emerg] unknown directive", Err: errors.New("exit status 1")}
	cases := []struct {
		name     string
		nodes    []node.Node
		regErr   error
		checkErr error
		want     error
		says     string
	}{
		{"empty registry", nil, nil, nil, ErrNoLiveNodes, "no live nodes"},
		{"every node dead", []node.Node{mk("e", node.RoleEdge, "", "10.0.0.9:5080", "", time.Hour)}, nil, nil, ErrNoLiveNodes, "no live nodes"},
		{"registry error", threeNodes(), regErr, nil, regErr, "read the registry"},
		{"check refuses", append(threeNodes(), mk("edge9", node.RoleEdge, "", "10.0.0.9:5080", "", 0)), nil, refused, refused, "unknown directive"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t)
			r.sync(t, Replaced)
			good := r.file(t)
			checks, _ := r.bal.counts()
			r.reg.set(tc.nodes, tc.regErr)
			r.bal.checkErr = tc.checkErr
			err := r.sync(t, Kept)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.says) || !strings.Contains(err.Error(), "keeping "+r.path) {
				t.Fatalf("Sync error %v; want %v saying %q and keeping the file", err, tc.want, tc.says)
			}
			if r.file(t) != good {
				t.Fatal("the file in place changed")
			}
			c, n := r.bal.counts()
			if n != 1 {
				t.Fatalf("%d reloads, want 1 (the first sync's)", n)
			}
			if wantChecks := checks + btoi(tc.checkErr != nil); c != wantChecks {
				t.Fatalf("%d checks, want %d", c, wantChecks)
			}
			onlyConfigIn(t, filepath.Dir(r.path))
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestWatcherRetriesAFailedReload(t *testing.T) {
	r := newRig(t)
	r.bal.reloadErr = errors.New("balancer not running")
	err := r.sync(t, Replaced)
	if err == nil || !strings.Contains(err.Error(), "not running") {
		t.Fatalf("Sync error %v", err)
	}
	r.expectRender(t, threeNodes())
	if err := r.sync(t, Unchanged); err == nil {
		t.Fatal("a second failing reload was not reported")
	}
	r.bal.reloadErr = nil
	if err := r.sync(t, Reloaded); err != nil {
		t.Fatal(err)
	}
	r.sync(t, Unchanged)
	if c, n := r.bal.counts(); c != 1 || n != 1 {
		t.Fatalf("checks %d, reloads %d", c, n)
	}
}

func TestWatcherRestoresAFileChangedByHand(t *testing.T) {
	r := newRig(t)
	r.sync(t, Replaced)
	if err := os.WriteFile(r.path, []byte("events {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r.sync(t, Replaced)
	r.expectRender(t, threeNodes())
	if err := os.Remove(r.path); err != nil {
		t.Fatal(err)
	}
	r.sync(t, Replaced)
	r.expectRender(t, threeNodes())
	if c, n := r.bal.counts(); c != 3 || n != 3 {
		t.Fatalf("checks %d, reloads %d", c, n)
	}
}

func TestWatcherLeavesAnUpToDateFileAlone(t *testing.T) {
	r := newRig(t)
	want, _ := Render(r.rc, threeNodes(), now)
	if err := os.WriteFile(r.path, want, 0o644); err != nil {
		t.Fatal(err)
	}
	r.sync(t, Unchanged)
	if c, n := r.bal.counts(); c != 0 || n != 0 {
		t.Fatalf("checks %d, reloads %d for a file already up to date", c, n)
	}
}

func TestWatcherRunLogsEachFailureOnce(t *testing.T) {
	var logs syncbuf.Buffer
	r := newRig(t)
	r.w.log = slog.New(slog.NewTextHandler(&logs, nil))
	r.reg.set(nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.w.Run(ctx) }()
	waitUntil(t, func() bool { return strings.Count(logs.String(), "no live nodes") == 1 })
	time.Sleep(50 * time.Millisecond) // about ten more syncs
	r.reg.set(threeNodes(), nil)
	waitUntil(t, func() bool { return strings.Contains(logs.String(), "replaced and reloaded") })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
	if n := strings.Count(logs.String(), "no live nodes"); n != 1 {
		t.Fatalf("the same failure was logged %d times:\n%s", n, logs.String())
	}
	r.expectRender(t, threeNodes())
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestNewWatcherRefuses(t *testing.T) {
	ok := func(context.Context, string) error { return nil }
	rl := func(context.Context) error { return nil }
	good := Config{Kind: Nginx, Prefix: "/lb"}
	cases := []struct {
		name string
		cfg  WatchConfig
		reg  NodeLister
	}{
		{"no registry", WatchConfig{Render: good, Path: "/lb/x", Validate: ok, Reload: rl}, nil},
		{"no path", WatchConfig{Render: good, Validate: ok, Reload: rl}, &fakeRegistry{}},
		{"no check", WatchConfig{Render: good, Path: "/lb/x", Reload: rl}, &fakeRegistry{}},
		{"no reload", WatchConfig{Render: good, Path: "/lb/x", Validate: ok}, &fakeRegistry{}},
		{"bad render config", WatchConfig{Render: Config{Kind: "x", Prefix: "/lb"}, Path: "/lb/x", Validate: ok, Reload: rl}, &fakeRegistry{}},
	}
	for _, tc := range cases {
		if _, err := NewWatcher(tc.cfg, tc.reg); err == nil {
			t.Errorf("%s: NewWatcher accepted it", tc.name)
		}
	}
}
