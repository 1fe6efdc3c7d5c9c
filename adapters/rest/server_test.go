package rest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
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
	live map[stream.Key]bool
}

func (f *fakeNode) Self() node.Node          { return node.Node{ID: "n1", Role: node.RoleBoth} }
func (f *fakeNode) HasApp(a stream.App) bool { return a == "LiveApp" || a == "WebRTCAppEE" }
func (f *fakeNode) Apps() []stream.App       { return []stream.App{"LiveApp", "WebRTCAppEE"} }
func (f *fakeNode) Stop(k stream.Key) bool   { return f.live[k] }

var now = time.UnixMilli(1_800_000_000_000).UTC()

func newTestAPI(t *testing.T) (*httptest.Server, *portstest.MemStore) {
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
	_ = store.Register(ctx, node.Node{ID: "n1", Role: node.RoleOrigin, LastSeen: now, Load: node.Load{CPUPercent: 12.5, MemoryBytes: 64 << 20}})
	_ = store.Register(ctx, node.Node{ID: "n2", Role: node.RoleEdge, LastSeen: now.Add(-time.Minute)})
	n := &fakeNode{live: map[stream.Key]bool{{App: "LiveApp", ID: "alpha"}: true}}
	api, err := New(Config{Version: "test", Now: func() time.Time { return now }}, n, store, store)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	api.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, store
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
