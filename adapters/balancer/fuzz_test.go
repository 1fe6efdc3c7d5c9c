package balancer

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/colony-live/colony/core/node"
)

// FuzzRenderNodeFields feeds registry fields to Render: whatever a node
// record holds, the config keeps its structure (no directive can be
// injected, not even through the comment saying why a node was left out)
// and an unsafe id never reaches a directive (found there outside the
// node's own addresses).
func FuzzRenderNodeFields(f *testing.F) {
	f.Add("edge1", "edge", "default", "10.0.0.2:5080", "")
	f.Add("o;rigin}", "origin", "eu\n}", "10.0.0.1:5080", "10.0.0.1:1935;")
	f.Add("x", "both", "", "[::1]:5080", "[::1]:1935")
	f.Add("x\"y", "edge", "g", "host.example:80", "bad")
	f.Add("n\r\nserver evil:1;", "origin", "default", "a-b.c:1", "0.0.0.0:1935")
	f.Add("x", "edge", "", "x\nworker_processes 1;", "")
	f.Fuzz(func(t *testing.T, id, role, group, httpAddr, rtmpAddr string) {
		nodes := []node.Node{
			{ID: "origin0", Role: node.RoleOrigin, HTTPAddr: "10.9.9.9:5080", LastSeen: now},
			{ID: node.ID(id), Role: node.Role(role), Group: group, HTTPAddr: httpAddr, RTMPAddr: rtmpAddr, LastSeen: now.Add(-time.Second)},
		}
		ln, why := admit(nodes[1], DefaultNodeRTMPPort)
		// The node's own addresses, as the config writes them: an id found
		// only inside one of them ("000" in "server 000:1") is the address.
		var own []string
		if why == "" {
			own = append(own, net.JoinHostPort(ln.httpHost, ln.httpPort))
			if ln.rtmp != "" {
				own = append(own, ln.rtmp)
			}
		}
		for _, k := range []Kind{Nginx, HAProxy} {
			cfg := Config{Kind: k, Prefix: "/lb", Groups: []GroupListen{{Group: "eu", HTTPListen: ":81"}}}
			out, err := Render(cfg, nodes, now)
			if err != nil {
				t.Fatalf("%s: %v", k, err)
			}
			// base is the config without the fuzzed node: a line found there
			// holds the id by coincidence ("080 " in "5080 max_fails"), not
			// because the id reached it.
			base, err := Render(cfg, nodes[:1], now)
			if err != nil {
				t.Fatalf("%s: base: %v", k, err)
			}
			baseLines := map[string]bool{}
			for _, l := range strings.Split(string(base), "\n") {
				baseLines[strings.TrimSpace(l)] = true
			}
			if why != "" {
				// A node left out changes nothing but the header comment.
				if withoutComments(string(base)) != withoutComments(string(out)) {
					t.Fatalf("%s: a node left out (%s) changed the config:\n%s", k, why, out)
				}
			}
			depth := 0
			for _, l := range strings.Split(string(out), "\n") {
				l = strings.TrimSpace(l)
				if l == "" || strings.HasPrefix(l, "#") {
					continue
				}
				for _, c := range l {
					if c < 0x20 || c > 0x7e {
						t.Fatalf("%s: control or non-ASCII character in %q", k, l)
					}
				}
				rest := l
				for _, a := range own {
					rest = strings.ReplaceAll(rest, a, "")
				}
				if !idRe.MatchString(id) && len(id) > 3 && strings.Contains(rest, id) && !baseLines[l] {
					t.Fatalf("%s: unsafe id %q reached a directive: %q", k, id, l)
				}
				if k == Nginx {
					if !strings.HasSuffix(l, "{") && !strings.HasSuffix(l, "}") && !strings.HasSuffix(l, ";") {
						t.Fatalf("nginx: line %q is not a directive", l)
					}
					depth += strings.Count(l, "{") - strings.Count(l, "}")
					if depth < 0 {
						t.Fatalf("nginx: unbalanced braces at %q", l)
					}
				}
			}
			if depth != 0 {
				t.Fatalf("%s: unbalanced braces (%d)", k, depth)
			}
		}
	})
}
