package rest

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/colony-live/colony/ports/portstest"
)

// openAPIDocument is the part of an OpenAPI 3 document the test reads.
type openAPIDocument struct {
	OpenAPI    string                                 `json:"openapi"`
	Paths      map[string]map[string]openAPIOperation `json:"paths"`
	Components struct {
		Schemas map[string]json.RawMessage `json:"schemas"`
	} `json:"components"`
}

type openAPIOperation struct {
	OperationID string                     `json:"operationId"`
	Responses   map[string]json.RawMessage `json:"responses"`
	Parameters  []struct {
		Name string `json:"name"`
		In   string `json:"in"`
	} `json:"parameters"`
	Security *[]map[string][]string `json:"security"`
}

// TestOpenAPIMatchesRoutes walks the route table: every route is in the
// document, with its path parameters, and the document has no other.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	var doc openAPIDocument
	if err := json.Unmarshal(openAPIDoc, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi = %q, want 3.x", doc.OpenAPI)
	}
	api, err := New(Config{}, &fakeNode{}, portstest.NewMemStore(), portstest.NewMemStore())
	if err != nil {
		t.Fatal(err)
	}
	inTable := map[string]bool{}
	for _, rt := range api.routes() {
		key := rt.method + " " + rt.path
		if inTable[key] {
			t.Errorf("route %s registered twice", key)
		}
		inTable[key] = true
		op, ok := doc.Paths[rt.path][strings.ToLower(rt.method)]
		if !ok {
			t.Errorf("route %s is not in openapi.json", key)
			continue
		}
		if op.OperationID == "" || len(op.Responses) == 0 {
			t.Errorf("%s: no operationId or responses", key)
		}
		if !rt.open && (op.Responses["403"] == nil || op.Responses["429"] == nil) {
			t.Errorf("%s: access-controlled but no 403 or 429 response documented", key)
		}
		if forwardedRoute(rt) && (op.Responses["502"] == nil || op.Responses["503"] == nil) {
			t.Errorf("%s: forwarded to the origin in a cluster but no 502 or 503 response documented", key)
		}
		if rt.open != (op.Security != nil && len(*op.Security) == 0) {
			t.Errorf("%s: open=%v but the document's security says otherwise", key, rt.open)
		}
		var documented []string
		for _, p := range op.Parameters {
			if p.In == "path" {
				documented = append(documented, p.Name)
			}
		}
		var want []string
		for _, seg := range strings.Split(rt.path, "/") {
			if strings.HasPrefix(seg, "{") {
				want = append(want, strings.Trim(seg, "{}"))
			}
		}
		slices.Sort(documented)
		slices.Sort(want)
		if !slices.Equal(documented, want) {
			t.Errorf("%s: path parameters documented %v, want %v", key, documented, want)
		}
	}
	ids := map[string]string{}
	for path, ops := range doc.Paths {
		for method, op := range ops {
			key := strings.ToUpper(method) + " " + path
			if !inTable[key] {
				t.Errorf("openapi.json lists %s, which is not a route", key)
			}
			if other, dup := ids[op.OperationID]; dup {
				t.Errorf("operationId %s used by %s and %s", op.OperationID, key, other)
			}
			ids[op.OperationID] = key
		}
	}
	// Every $ref names a schema that exists.
	refs := strings.Split(string(openAPIDoc), `"$ref": "#/components/schemas/`)
	for _, r := range refs[1:] {
		name := r[:strings.IndexByte(r, '"')]
		if doc.Components.Schemas[name] == nil {
			t.Errorf("$ref to missing schema %s", name)
		}
	}
	if len(refs) < 10 {
		t.Errorf("only %d $refs found: the check above checked nothing", len(refs)-1)
	}
}

// forwardedRoute reports whether rt is forwarded to a live stream's origin.
func forwardedRoute(rt route) bool {
	return strings.HasSuffix(rt.path, "/stream-info") || strings.HasSuffix(rt.path, "/stop") || (rt.method == "DELETE" && strings.HasSuffix(rt.path, "/broadcasts/{id}"))
}

func TestOpenAPIServed(t *testing.T) {
	e := newEnv(t, nil)
	resp, err := http.Get(e.srv.URL + "/rest/v2/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc openAPIDocument
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil || resp.StatusCode != 200 || len(doc.Paths) < 20 {
		t.Fatalf("GET openapi.json = %d, %d paths, %v", resp.StatusCode, len(doc.Paths), err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type = %q", ct)
	}
}
