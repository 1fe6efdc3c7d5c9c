package rest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/colony-live/colony/core/node"
	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports/portstest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeNode is the running node as the API sees it.
type fakeNode struct {
	id      node.ID // "n1" when empty
	mu      sync.Mutex
	live    map[stream.Key]bool
	stopped map[stream.Key]bool
}

func (f *fakeNode) Self() node.Node {
	if f.id == "" {
		return node.Node{ID: "n1", Role: node.RoleBoth}
	}
	return node.Node{ID: f.id, Role: node.RoleBoth}
}
func (f *fakeNode) HasApp(a stream.App) bool { return a == "LiveApp" || a == "WebRTCAppEE" }
func (f *fakeNode) Apps() []stream.App       { return []stream.App{"LiveApp", "WebRTCAppEE"} }
func (f *fakeNode) Stop(k stream.Key) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.live[k] {
		return false
	}
	if f.stopped == nil {
		f.stopped = map[stream.Key]bool{}
	}
	f.stopped[k] = true
	return true
}

func (f *fakeNode) wasStopped(k stream.Key) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stopped[k]
}

var now = time.UnixMilli(1_800_000_000_000).UTC()

// env is an API over in-memory stores.
type env struct {
	srv      *httptest.Server
	api      *Server
	store    *portstest.MemStore
	settings *portstest.MemSettings
	node     *fakeNode
	clock    *fakeClock
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// newEnv starts the API; edit changes its Config first.
func newEnv(t *testing.T, edit func(*Config)) *env {
	t.Helper()
	return newEnvOver(t, nil, edit)
}

// newEnvOver starts an API over store, another node of a cluster; nil: a
// new store with the fixtures.
func newEnvOver(t *testing.T, store *portstest.MemStore, edit func(*Config)) *env {
	t.Helper()
	if store == nil {
		store = newFixtureStore(t)
	}
	e := &env{store: store, settings: portstest.NewMemSettings(), clock: &fakeClock{t: now},
		node: &fakeNode{live: map[stream.Key]bool{{App: "LiveApp", ID: "alpha"}: true}}}
	cfg := Config{Version: "test", Now: e.clock.Now, Settings: e.settings, DiskPath: t.TempDir()}
	if edit != nil {
		edit(&cfg)
	}
	api, err := New(cfg, e.node, store, store)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	api.Register(mux)
	e.api = api
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	return e
}

// newFixtureStore returns a store with broadcasts alpha and beta live,
// gamma created, and nodes n1 (alive) and n2 (dead).
func newFixtureStore(t *testing.T) *portstest.MemStore {
	t.Helper()
	store := portstest.NewMemStore()
	ctx := context.Background()
	for i, id := range []string{"alpha", "beta", "gamma"} {
		k := stream.Key{App: "LiveApp", ID: stream.ID(id)}
		b := stream.NewBroadcast(k, now.Add(time.Duration(i)*time.Second))
		if id != "gamma" {
			_ = b.Transition(stream.StatusBroadcasting, now)
			b.Width, b.Height, b.HLSViewers = 1280, 720, 3
		}
		if err := store.CreateBroadcast(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	_ = store.Register(ctx, node.Node{ID: "n1", Role: node.RoleOrigin, LastSeen: now, Load: node.Load{CPUPercent: 12.5, MemoryBytes: 64 << 20, MemoryTotal: 8 << 30}})
	_ = store.Register(ctx, node.Node{ID: "n2", Role: node.RoleEdge, LastSeen: now.Add(-time.Minute)})
	return store
}

func newTestAPI(t *testing.T) (*httptest.Server, *portstest.MemStore) {
	t.Helper()
	e := newEnv(t, nil)
	return e.srv, e.store
}

// do sends a request with an optional body and headers ("Name: value").
func (e *env) do(t *testing.T, method, path, body string, headers ...string) (int, string) {
	t.Helper()
	code, _, b := e.raw(t, method, path, body, headers...)
	return code, b
}

// raw is do that returns the answer's headers too.
func (e *env) raw(t *testing.T, method, path, body string, headers ...string) (int, http.Header, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// check runs request cases against e.
func (e *env) check(t *testing.T, cases []apiCase) {
	t.Helper()
	for _, tt := range cases {
		code, body := e.do(t, tt.method, tt.path, tt.body, tt.headers...)
		if code != tt.code {
			t.Errorf("%s %s %s = %d, want %d: %s", tt.method, tt.path, tt.body, code, tt.code, body)
			continue
		}
		for _, c := range tt.contains {
			if !strings.Contains(body, c) {
				t.Errorf("%s %s body lacks %s: %s", tt.method, tt.path, c, body)
			}
		}
		if !json.Valid([]byte(body)) {
			t.Errorf("%s %s body is not JSON: %s", tt.method, tt.path, body)
		}
		if code >= 400 && !strings.Contains(body, `"success":false`) {
			t.Errorf("%s %s error is not an Ant Media result: %s", tt.method, tt.path, body)
		}
	}
}

// apiCase is one request and what its answer must hold.
type apiCase struct {
	method, path, body string
	code               int
	contains           []string
	headers            []string
}

func call(t *testing.T, srv *httptest.Server, method, path string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestEndpoints(t *testing.T) {
	srv, _ := newTestAPI(t)
	tests := []struct {
		method, path string
		code         int
		contains     []string
	}{
		{"GET", "/rest/v2/liveness", 200, []string{`"status":"ok"`, `"node":"n1"`}},
		{"GET", "/rest/v2/version", 200, []string{`"versionName":"test"`}},
		{"GET", "/LiveApp/rest/v2/broadcasts/list/0/10", 200, []string{`"streamId":"alpha"`, `"streamId":"gamma"`, `"hlsViewerCount":3`}},
		{"GET", "/LiveApp/rest/v2/broadcasts/list/1/1", 200, []string{`"streamId":"beta"`}},
		{"GET", "/LiveApp/rest/v2/broadcasts/list/10/10", 200, []string{`[]`}},
		{"GET", "/LiveApp/rest/v2/broadcasts/list/0/100000", 200, []string{`"streamId":"gamma"`}}, // size capped at 50
		{"GET", "/LiveApp/rest/v2/broadcasts/list/99999999999999999999/10", 400, nil},
		{"GET", "/rest/v2/cluster/nodes/100/10", 200, []string{`[]`}},
		{"GET", "/LiveApp/rest/v2/broadcasts/list/0/10?search=gam", 200, []string{`"streamId":"gamma"`}},
		{"GET", "/LiveApp/rest/v2/broadcasts/list/0/1?sort_by=name&order_by=desc", 200, []string{`"streamId":"gamma"`}},
		{"GET", "/LiveApp/rest/v2/broadcasts/list/-1/10", 400, []string{`"success":false`}},
		{"GET", "/LiveApp/rest/v2/broadcasts/list/0/0", 400, nil},
		{"GET", "/LiveApp/rest/v2/broadcasts/list/x/10", 400, nil},
		{"GET", "/LiveApp/rest/v2/broadcasts/alpha", 200, []string{`"status":"broadcasting"`, `"width":1280`, `"height":720`}},
		{"GET", "/LiveApp/rest/v2/broadcasts/nosuch", 404, []string{`"success":false`}},
		{"GET", "/LiveApp/rest/v2/broadcasts/bad..id", 400, []string{`"success":false`}},
		{"GET", "/NoApp/rest/v2/broadcasts/list/0/10", 404, []string{"unknown application"}},
		{"GET", "/LiveApp/rest/v2/broadcasts/count", 200, []string{`"number":3`}},
		{"GET", "/LiveApp/rest/v2/broadcasts/active-live-stream-count", 200, []string{`"number":2`}},
		{"POST", "/LiveApp/rest/v2/broadcasts/alpha/stop", 200, []string{`"success":true`}},
		{"POST", "/LiveApp/rest/v2/broadcasts/beta/stop", 409, []string{`"success":false`}},
		{"POST", "/LiveApp/rest/v2/broadcasts/nosuch/stop", 404, nil},
		{"GET", "/rest/v2/cluster/node-count", 200, []string{`"number":2`}},
		{"GET", "/rest/v2/cluster/nodes/0/10", 200, []string{`"id":"n1"`, `"status":"alive"`, `"id":"n2"`, `"status":"dead"`, `"cpu":"12.5"`}},
		{"GET", "/rest/v2/cluster/nodes/0/-5", 400, nil},
		{"DELETE", "/rest/v2/cluster/node/n1", 409, []string{"alive"}},
		{"DELETE", "/rest/v2/cluster/node/nosuch", 404, nil},
		{"DELETE", "/rest/v2/cluster/node/n2", 200, []string{`"success":true`}},
		{"GET", "/rest/v2/cluster/node-count", 200, []string{`"number":1`}},
	}
	for _, tt := range tests {
		code, body := call(t, srv, tt.method, tt.path)
		if code != tt.code {
			t.Errorf("%s %s = %d, want %d: %s", tt.method, tt.path, code, tt.code, body)
			continue
		}
		for _, c := range tt.contains {
			if !strings.Contains(body, c) {
				t.Errorf("%s %s body lacks %s: %s", tt.method, tt.path, c, body)
			}
		}
		if code >= 400 && !json.Valid([]byte(body)) {
			t.Errorf("%s %s error body is not JSON: %s", tt.method, tt.path, body)
		}
	}
}

func TestStoreDown(t *testing.T) {
	srv, store := newTestAPI(t)
	store.SetDown(true)
	for _, p := range []string{"/LiveApp/rest/v2/broadcasts/list/0/10", "/LiveApp/rest/v2/broadcasts/alpha", "/rest/v2/cluster/nodes/0/10"} {
		if code, body := call(t, srv, "GET", p); code != http.StatusServiceUnavailable {
			t.Errorf("GET %s with the store down = %d %s, want 503", p, code, body)
		}
	}
	if code, _ := call(t, srv, "GET", "/rest/v2/liveness"); code != 200 {
		t.Errorf("liveness with the store down = %d", code)
	}
}
