package balancer

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/colony-live/colony/core/node"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func mk(id string, role node.Role, group, httpAddr, rtmpAddr string, age time.Duration) node.Node {
	return node.Node{ID: node.ID(id), Role: role, Group: group, HTTPAddr: httpAddr, RTMPAddr: rtmpAddr,
		InternalAddr: "10.0.0.1:5000", PublicAddr: "203.0.113.1", LastSeen: now.Add(-age)}
}

// threeNodes is the cluster of the end-to-end tests: one origin, two edges.
func threeNodes() []node.Node {
	return []node.Node{
		mk("edge2", node.RoleEdge, "default", "10.0.0.3:5080", "", time.Second),
		mk("origin1", node.RoleOrigin, "default", "10.0.0.1:5080", "10.0.0.1:1935", 2*time.Second),
		mk("edge1", node.RoleEdge, "default", "10.0.0.2:5080", "", 0),
	}
}

// mixedNodes exercises groups, fallbacks, dead and unusable nodes.
func mixedNodes() []node.Node {
	return []node.Node{
		mk("origin-eu", node.RoleOrigin, "eu", "10.1.0.1:5080", "", time.Second), // no RTMP address: node port
		mk("edge-eu", node.RoleEdge, "eu", "[2001:db8::2]:5080", "", time.Second),
		mk("both-us", node.RoleBoth, "us", "us1.example.net:5080", "us1.example.net:11935", time.Second),
		mk("edge-us", node.RoleEdge, "us", "10.2.0.2:5080", "", time.Second),
		mk("dead-edge", node.RoleEdge, "eu", "10.1.0.9:5080", "", time.Minute),
		mk("bad-addr", node.RoleEdge, "eu", "10.1.0.8:5080;evil", "", time.Second),
		mk("wild-host", node.RoleEdge, "eu", "0.0.0.0:5080", "", time.Second),
		mk("weird id {x};", node.RoleEdge, "", "10.3.0.1:5080", "", time.Second),
	}
}

func TestRenderGolden(t *testing.T) {
	groups := []GroupListen{
		{Group: "eu", HTTPListen: "0.0.0.0:8081", RTMPListen: "0.0.0.0:11936"},
		{Group: "apac", HTTPListen: "[::]:8082"},
	}
	cases := []struct {
		name  string
		cfg   Config
		nodes []node.Node
	}{
		{"three", Config{Prefix: "/var/lib/colony-lb", StreamModule: "/usr/lib/nginx/modules/ngx_stream_module.so"}, threeNodes()},
		{"groups", Config{Prefix: "/var/lib/colony-lb", HTTPListen: "*:8080", RTMPListen: "127.0.0.1:1935", NodeRTMPPort: 2935, Groups: groups}, mixedNodes()},
		{"nortmp", Config{Prefix: "/srv/lb", HTTPListen: "127.0.0.1:8080", RTMPListen: "-", StreamModule: "/usr/lib/nginx/modules/ngx_stream_module.so"}, threeNodes()[:2]},
		{"tls", Config{Prefix: "/srv/lb", HTTPListen: ":80", HTTPSListen: ":443", TLSCert: "/etc/letsencrypt/live/media.example.com/fullchain.pem",
			TLSKey: "/etc/letsencrypt/live/media.example.com/privkey.pem", StreamModule: "/usr/lib/nginx/modules/ngx_stream_module.so",
			Groups: []GroupListen{{Group: "eu", HTTPListen: ":8081"}}}, threeNodes()},
	}
	for _, tc := range cases {
		for _, k := range []Kind{Nginx, HAProxy} {
			t.Run(tc.name+"-"+string(k), func(t *testing.T) {
				cfg := tc.cfg
				cfg.Kind = k
				if k == HAProxy && cfg.TLSKey != "" {
					cfg.TLSCert, cfg.TLSKey = "/etc/haproxy/certs/media.example.com.pem", "" // chain and key in one file
				}
				got, err := Render(cfg, tc.nodes, now)
				if err != nil {
					t.Fatal(err)
				}
				again, _ := Render(cfg, reversed(tc.nodes), now)
				if string(again) != string(got) {
					t.Fatal("render depends on the order of the registry's nodes")
				}
				golden(t, filepath.Join("testdata", tc.name+"."+k.ConfigFile()), got)
			})
		}
	}
}

func reversed(ns []node.Node) []node.Node {
	out := make([]node.Node, len(ns))
	for i, n := range ns {
		out[len(ns)-1-i] = n
	}
	return out
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Fatalf("render differs from %s (go test -update rewrites it):\n%s", path, got)
	}
}

// TestRenderRouting checks the routing rules in the three-node render.
func TestRenderRouting(t *testing.T) {
	nginx, err := Render(Config{Kind: Nginx, Prefix: "/lb"}, threeNodes(), now)
	if err != nil {
		t.Fatal(err)
	}
	haproxy, err := Render(Config{Kind: HAProxy, Prefix: "/lb"}, threeNodes(), now)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		kind string
		conf []byte
		want []string
		not  []string
	}{
		{"nginx", nginx, []string{
			"upstream s0_origins {\n        zone s0_origins 64k;\n        least_conn;\n        server 10.0.0.1:5080 max_fails=1 fail_timeout=5s;\n        keepalive 32;",
			"upstream s0_edges {\n        zone s0_edges 64k;\n        least_conn;\n        server 10.0.0.2:5080 max_fails=1 fail_timeout=5s;\n        server 10.0.0.3:5080 max_fails=1 fail_timeout=5s;",
			"upstream s0_rtmp {\n        zone s0_rtmp 64k;\n        least_conn;\n        server 10.0.0.1:1935 max_fails=1 fail_timeout=5s;",
			"map $arg_target $s0_ws {\n        default s0_edges;\n        origin s0_origins;",
			"\"edge1\" s0_edge_0;", "\"edge2\" s0_edge_1;",
			"server 10.0.0.3:5080 max_fails=1 fail_timeout=5s backup;",
			"proxy_next_upstream error timeout http_502 http_503 http_504;",
			"proxy_set_header Upgrade $http_upgrade;", "proxy_read_timeout 1h;", "listen *:80;", "listen *:1935;",
			"pid /lb/nginx.pid;", "client_body_temp_path /lb/client_body_temp;", "error_log /lb/error.log warn;",
		}, []string{"load_module", "daemon"}},
		{"haproxy", haproxy, []string{
			"backend s0_origins\n    balance leastconn\n    option httpchk GET /rest/v2/liveness\n    http-check expect status 200",
			"server origin1 10.0.0.1:5080 check cookie origin1",
			"server edge1 10.0.0.2:5080 check cookie edge1\n    server edge2 10.0.0.3:5080 check cookie edge2",
			"server origin1 10.0.0.1:1935 check port 5080",
			"use_backend s0_origins if websocket to_origin\n    use_backend s0_edges if websocket",
			"acl to_origin url_param(target) -m str origin", "timeout tunnel 1h", "inter 1s fall 2 rise 1",
			"bind :80", "bind :1935", "mode tcp", "pidfile /lb/haproxy.pid", "stats socket /lb/haproxy.sock",
		}, []string{"daemon"}},
	} {
		for _, w := range tc.want {
			if !strings.Contains(string(tc.conf), w) {
				t.Errorf("%s render lacks %q", tc.kind, w)
			}
		}
		for _, w := range tc.not {
			if strings.Contains(string(tc.conf), w) {
				t.Errorf("%s render has %q", tc.kind, w)
			}
		}
	}
}

func TestRenderListsOnlyLiveUsableNodes(t *testing.T) {
	for _, k := range []Kind{Nginx, HAProxy} {
		out, err := Render(Config{Kind: k, Prefix: "/lb"}, mixedNodes(), now)
		if err != nil {
			t.Fatal(err)
		}
		s := withoutComments(string(out))
		for _, absent := range []string{"10.1.0.9", "evil", "0.0.0.0:5080", "{x}"} {
			if strings.Contains(s, absent) {
				t.Errorf("%s: render mentions %q", k, absent)
			}
		}
		for _, present := range []string{"[2001:db8::2]:5080", "us1.example.net:11935", "10.1.0.1:1935", "10.3.0.1:5080"} {
			if !strings.Contains(s, present) {
				t.Errorf("%s: render lacks %q", k, present)
			}
		}
		if !strings.Contains(string(out), "\n# Left out: \"bad-addr\": HTTP address \"10.1.0.8:5080;evil\"") {
			t.Errorf("%s: the header does not say why bad-addr was left out", k)
		}
	}
}

func TestRenderErrors(t *testing.T) {
	dead := []node.Node{mk("e", node.RoleEdge, "", "10.0.0.1:5080", "", time.Hour)}
	bad := []node.Node{mk("e", node.RoleEdge, "", "nowhere", "", 0)}
	ok := threeNodes()
	cases := []struct {
		name  string
		cfg   Config
		nodes []node.Node
		want  error
		text  string
	}{
		{"empty registry", Config{Kind: Nginx, Prefix: "/lb"}, nil, ErrNoLiveNodes, ""},
		{"all dead", Config{Kind: HAProxy, Prefix: "/lb"}, dead, ErrNoLiveNodes, ""},
		{"all unusable", Config{Kind: Nginx, Prefix: "/lb"}, bad, ErrNoLiveNodes, "nowhere"},
		{"kind", Config{Kind: "traefik", Prefix: "/lb"}, ok, ErrInvalidConfig, "traefik"},
		{"relative prefix", Config{Kind: Nginx, Prefix: "lb"}, ok, ErrInvalidConfig, "absolute"},
		{"prefix with syntax", Config{Kind: Nginx, Prefix: "/lb;evil"}, ok, ErrInvalidConfig, "prefix"},
		{"module path", Config{Kind: Nginx, Prefix: "/lb", StreamModule: "/x y.so"}, ok, ErrInvalidConfig, "module"},
		{"listen", Config{Kind: Nginx, Prefix: "/lb", HTTPListen: "80"}, ok, ErrInvalidConfig, "http listen"},
		{"listen port", Config{Kind: Nginx, Prefix: "/lb", HTTPListen: ":99999"}, ok, ErrInvalidConfig, "port"},
		{"same listen", Config{Kind: Nginx, Prefix: "/lb", HTTPListen: ":80", RTMPListen: ":80"}, ok, ErrInvalidConfig, "twice"},
		{"group name", Config{Kind: Nginx, Prefix: "/lb", Groups: []GroupListen{{Group: "a b", HTTPListen: ":81"}}}, ok, ErrInvalidConfig, "group"},
		{"group twice", Config{Kind: Nginx, Prefix: "/lb", Groups: []GroupListen{{Group: "a", HTTPListen: ":81"}, {Group: "a", HTTPListen: ":82"}}}, ok, ErrInvalidConfig, "two listeners"},
		{"node rtmp port", Config{Kind: Nginx, Prefix: "/lb", NodeRTMPPort: 70000}, ok, ErrInvalidConfig, "port"},
		{"https without a certificate", Config{Kind: Nginx, Prefix: "/lb", HTTPSListen: ":443"}, ok, ErrInvalidConfig, "needs a TLS certificate"},
		{"nginx without the key", Config{Kind: Nginx, Prefix: "/lb", HTTPSListen: ":443", TLSCert: "/c.pem"}, ok, ErrInvalidConfig, "key file"},
		{"haproxy with a key file", Config{Kind: HAProxy, Prefix: "/lb", HTTPSListen: ":443", TLSCert: "/c.pem", TLSKey: "/k.pem"}, ok, ErrInvalidConfig, "give no key file"},
		{"certificate without https", Config{Kind: Nginx, Prefix: "/lb", TLSCert: "/c.pem", TLSKey: "/k.pem"}, ok, ErrInvalidConfig, "without an https listen"},
		{"certificate path with syntax", Config{Kind: Nginx, Prefix: "/lb", HTTPSListen: ":443", TLSCert: "/c.pem;evil", TLSKey: "/k.pem"}, ok, ErrInvalidConfig, "certificate path"},
		{"https on the http port", Config{Kind: Nginx, Prefix: "/lb", HTTPListen: ":80", HTTPSListen: ":80", TLSCert: "/c.pem", TLSKey: "/k.pem"}, ok, ErrInvalidConfig, "twice"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := Render(tc.cfg, tc.nodes, now)
			if !errors.Is(err, tc.want) || out != nil {
				t.Fatalf("Render = %d bytes, %v; want %v", len(out), err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("error %q does not say %q", err, tc.text)
			}
		})
	}
}

func TestParseKind(t *testing.T) {
	for in, want := range map[string]Kind{"nginx": Nginx, "haproxy": HAProxy} {
		if k, err := ParseKind(in); err != nil || k != want {
			t.Errorf("ParseKind(%q) = %q, %v", in, k, err)
		}
	}
	if _, err := ParseKind("NGINX"); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("ParseKind(NGINX) = %v", err)
	}
	if Nginx.ConfigFile() != "nginx.conf" || HAProxy.ConfigFile() != "haproxy.cfg" {
		t.Error("config file names")
	}
}

// withoutComments drops the comment lines of a render.
func withoutComments(s string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}
