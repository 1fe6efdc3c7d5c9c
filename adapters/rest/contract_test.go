package rest

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// contractRequest is one call of TestRouteContract.
type contractRequest struct {
	what       string
	path, body string
	want       int // 0: any code the document lists
}

// contractRequests returns, for one route, a good call and the bad inputs
// that apply: unknown application, unknown id, out-of-range paging,
// malformed JSON.
func contractRequests(rt route, hasBody bool) []contractRequest {
	fill := func(vals map[string]string) string {
		p := rt.path
		for k, v := range vals {
			p = strings.ReplaceAll(p, "{"+k+"}", v)
		}
		return p
	}
	good := map[string]string{"app": "LiveApp", "id": "alpha", "offset": "0", "size": "10", "name": "ffmpeg"}
	if strings.HasPrefix(rt.path, "/rest/v2/cluster/node/") {
		good["id"] = "n2"
	}
	if strings.HasSuffix(rt.path, "/token") || strings.HasSuffix(rt.path, "/jwt-token") {
		good["id"] = "alpha?type=play&expireDate=" + strconv.FormatInt(now.Add(time.Hour).Unix(), 10)
	}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for a, b := range good {
			m[a] = b
		}
		m[k] = v
		return m
	}
	body := ""
	if hasBody {
		body = "{}"
		switch {
		case strings.HasSuffix(rt.path, "/authenticate"):
			body = `{"email":"admin","password":"pw"}`
		case strings.HasSuffix(rt.path, "/plugins/active"):
			body = `{"name":"ffmpeg"}`
		}
	}
	out := []contractRequest{{what: "good", path: fill(good), body: body}}
	if strings.Contains(rt.path, "{app}") {
		out = append(out, contractRequest{what: "unknown app", path: fill(with("app", "NoApp")), body: body, want: 404})
	}
	if strings.Contains(rt.path, "/broadcasts/{id}") && !strings.HasSuffix(rt.path, "token") && !strings.HasSuffix(rt.path, "/tokens") {
		out = append(out, contractRequest{what: "unknown id", path: fill(with("id", "nosuch")), body: body, want: 404},
			contractRequest{what: "invalid id", path: fill(with("id", "a..b")), body: body, want: 400})
	}
	if strings.Contains(rt.path, "{offset}") {
		out = append(out, contractRequest{what: "negative offset", path: fill(with("offset", "-1")), want: 400},
			contractRequest{what: "size 0", path: fill(with("size", "0")), want: 400},
			contractRequest{what: "size not a number", path: fill(with("size", "ten")), want: 400})
	}
	if hasBody {
		out = append(out, contractRequest{what: "malformed JSON", path: fill(good), body: `{"name":`, want: 400},
			contractRequest{what: "JSON of the wrong type", path: fill(good), body: `["x"]`, want: 400})
	}
	return out
}

// TestRouteContract calls every route of the table, with good input and
// every kind of bad input that applies to it, and checks each answer
// against the OpenAPI document: a status code it lists for the operation,
// a JSON body, and an Ant Media result for every error.
func TestRouteContract(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]struct {
			Responses   map[string]json.RawMessage `json:"responses"`
			RequestBody json.RawMessage            `json:"requestBody"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(openAPIDoc, &doc); err != nil {
		t.Fatal(err)
	}
	routes := newEnv(t, nil).api.routes()
	calls := 0
	for _, rt := range routes {
		op := doc.Paths[rt.path][strings.ToLower(rt.method)]
		for _, rq := range contractRequests(rt, op.RequestBody != nil) {
			e := newEnv(t, func(c *Config) { // a fresh node: a good DELETE does not change the next call
				c.Plugins = &fakePlugins{}
				c.Access = AccessConfig{JWTSecret: testServerSecret, AdminUser: "admin", AdminPassword: "pw"}
			})
			code, body := e.do(t, rt.method, rq.path, rq.body)
			calls++
			name := fmt.Sprintf("%s %s (%s)", rt.method, rq.path, rq.what)
			if _, ok := op.Responses[strconv.Itoa(code)]; !ok {
				t.Errorf("%s = %d, which openapi.json does not list: %s", name, code, body)
			}
			if rq.want != 0 && code != rq.want {
				t.Errorf("%s = %d, want %d: %s", name, code, rq.want, body)
			}
			if rq.what == "good" && code >= 400 {
				t.Errorf("%s = %d: %s", name, code, body)
			}
			if !json.Valid([]byte(body)) {
				t.Errorf("%s: body is not JSON: %s", name, body)
				continue
			}
			if code >= 400 {
				var res Result
				if err := json.Unmarshal([]byte(body), &res); err != nil || res.Success || res.Message == "" {
					t.Errorf("%s: error is not an Ant Media result with a message: %s", name, body)
				}
			}
		}
	}
	if calls < 2*len(routes) {
		t.Fatalf("only %d calls for %d routes", calls, len(routes))
	}
}
