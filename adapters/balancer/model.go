package balancer

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"net"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/colony-live/colony/core/node"
)

// model is what the templates see.
type model struct {
	Kind         Kind
	Prefix       string
	StreamModule string
	TLSCert      string     // with the cluster site's HTTPSListen
	TLSKey       string     // nginx
	Nodes        []nodeLine // live nodes, for the header comment
	Skipped      []string   // live nodes left out, and why
	Sites        []site
}

// nodeLine describes one listed node in the header comment.
type nodeLine struct {
	ID, Role, Group, HTTP, RTMP string
}

// site is one set of listeners and the upstreams behind them: the whole
// cluster, or one node group.
type site struct {
	ID           string // s0 (the cluster), s1... (groups): prefix of every upstream name
	Name         string // "cluster" or the group's name
	HTTPListen   string
	HTTPSListen  string // "" when none (the cluster's site only)
	RTMPListen   string // "" when none
	EdgeCookie   string // sticky cookie names
	OriginCookie string
	Origins      pool // HTTP of ingesting nodes: WHIP, WebSocket publish
	Edges        pool // HTTP of serving nodes: HLS, WHEP, WebSocket play
	All          pool // HTTP of every node: REST, dashboard
	RTMP         pool // RTMP of ingesting nodes
}

// pool is an upstream (nginx) or backend (HAProxy).
type pool struct {
	Name     string
	Servers  []backend
	Fallback bool     // the group had none of this kind: the cluster's are used
	Sticky   []sticky // nginx: one upstream per server, the others as backups
}

// backend is one node in a pool.
type backend struct {
	Name      string // HAProxy server name and sticky cookie value
	Key       string // the node id when it is safe as a map key and cookie value, else ""
	Addr      string // host:port
	CheckHost string // the node's HTTP host for health checks, when not Addr's (an IP)
	CheckPort string // the node's HTTP port, for health checks
}

// sticky is an nginx upstream that prefers one node and falls back to the
// rest of its pool, chosen by the sticky cookie.
type sticky struct {
	Key      string
	Upstream string
	Primary  backend
	Backups  []backend
}

// liveNode is a registry node that made it into the render.
type liveNode struct {
	n         node.Node
	group     string
	name, key string
	httpHost  string
	httpPort  string
	rtmp      string // "" when the node does not ingest
}

var idRe = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

// buildModel picks the live nodes and lays out the sites. cfg is validated.
func buildModel(cfg Config, nodes []node.Node, now time.Time) (model, error) {
	m := model{Kind: cfg.Kind, Prefix: cfg.Prefix, StreamModule: cfg.StreamModule, TLSCert: cfg.TLSCert, TLSKey: cfg.TLSKey}
	sorted := append([]node.Node(nil), nodes...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].ID < sorted[j].ID })
	var live []liveNode
	for _, n := range sorted {
		if !n.Alive(now, cfg.DeadAfter) {
			continue
		}
		ln, why := admit(n, cfg.NodeRTMPPort)
		if why != "" {
			m.Skipped = append(m.Skipped, printable(fmt.Sprintf("%q: %s", string(n.ID), why)))
			continue
		}
		live = append(live, ln)
		m.Nodes = append(m.Nodes, nodeLine{ID: ln.name, Role: string(n.Role), Group: ln.group,
			HTTP: net.JoinHostPort(ln.httpHost, ln.httpPort), RTMP: ln.rtmp})
	}
	if len(live) == 0 {
		if len(m.Skipped) > 0 {
			return m, fmt.Errorf("%w (%d left out: %s)", ErrNoLiveNodes, len(m.Skipped), m.Skipped[0])
		}
		return m, ErrNoLiveNodes
	}
	cluster := makeSite(cfg.Kind, "s0", "cluster", "", cfg.HTTPListen, cfg.RTMPListen, live, live)
	if cfg.HTTPSListen != "" {
		cluster.HTTPSListen = listenFor(cfg.Kind, cfg.HTTPSListen)
	}
	m.Sites = append(m.Sites, cluster)
	for i, g := range cfg.Groups {
		var members []liveNode
		for _, ln := range live {
			if ln.group == g.Group {
				members = append(members, ln)
			}
		}
		m.Sites = append(m.Sites, makeSite(cfg.Kind, "s"+strconv.Itoa(i+1), g.Group, "_"+g.Group, g.HTTPListen, g.RTMPListen, members, live))
	}
	return m, nil
}

// admit checks a live node's addresses; why says what is wrong with it.
func admit(n node.Node, rtmpPort int) (ln liveNode, why string) {
	switch n.Role {
	case node.RoleOrigin, node.RoleEdge, node.RoleBoth:
	default:
		return ln, fmt.Sprintf("unknown role %q", string(n.Role))
	}
	host, port, err := splitAddr(n.HTTPAddr)
	if err != nil {
		return ln, fmt.Sprintf("HTTP address %q: %v", n.HTTPAddr, err)
	}
	ln = liveNode{n: n, group: n.Group, httpHost: host, httpPort: port}
	if ln.group == "" {
		ln.group = node.DefaultGroup
	}
	if !groupRe.MatchString(ln.group) {
		ln.group = "?"
	}
	if idRe.MatchString(string(n.ID)) {
		ln.name, ln.key = string(n.ID), string(n.ID)
	} else {
		sum := sha1.Sum([]byte(n.ID))
		ln.name = "node-" + hex.EncodeToString(sum[:4])
	}
	if n.Role.Ingests() {
		ln.rtmp = net.JoinHostPort(host, strconv.Itoa(rtmpPort))
		if h, p, err := splitAddr(n.RTMPAddr); err == nil {
			ln.rtmp = net.JoinHostPort(h, p)
		}
	}
	return ln, ""
}

// printable replaces what is not printable ASCII, so that registry data in
// a comment cannot end the comment's line.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '?'
		}
		return r
	}, s)
}

// splitAddr accepts host:port where host is an IP address or a DNS name.
func splitAddr(addr string) (host, port string, err error) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", "", err
	}
	if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != p {
		return "", "", fmt.Errorf("bad port %q", p)
	}
	if ip := net.ParseIP(h); ip != nil {
		if ip.IsUnspecified() {
			return "", "", fmt.Errorf("unspecified host %q", h)
		}
		return ip.String(), p, nil
	}
	if !hostRe.MatchString(h) {
		return "", "", fmt.Errorf("bad host %q", h)
	}
	return h, p, nil
}

// makeSite lays out one site from its members, falling back to the whole
// cluster (all) for a kind of node the members lack.
func makeSite(k Kind, id, name, cookieSuffix, httpListen, rtmpListen string, members, all []liveNode) site {
	s := site{ID: id, Name: name, HTTPListen: listenFor(k, httpListen),
		EdgeCookie: "colony_edge" + cookieSuffix, OriginCookie: "colony_origin" + cookieSuffix}
	if rtmpListen != "" {
		s.RTMPListen = listenFor(k, rtmpListen)
	}
	pick := func(from []liveNode, want func(liveNode) bool, rtmp bool) []backend {
		var out []backend
		for _, ln := range from {
			if !want(ln) {
				continue
			}
			b := backend{Name: ln.name, Key: ln.key, Addr: net.JoinHostPort(ln.httpHost, ln.httpPort),
				CheckHost: ln.httpHost, CheckPort: ln.httpPort}
			if rtmp {
				b.Addr = ln.rtmp
				// HAProxy resolves a check address when it parses the
				// config: give it only when it differs and is an IP.
				if h, _, _ := net.SplitHostPort(ln.rtmp); h == ln.httpHost || net.ParseIP(ln.httpHost) == nil {
					b.CheckHost = ""
				}
			}
			out = append(out, b)
		}
		return out
	}
	build := func(suffix string, want func(liveNode) bool, rtmp bool) pool {
		p := pool{Name: id + "_" + suffix, Servers: pick(members, want, rtmp)}
		if len(p.Servers) == 0 && len(members) != len(all) {
			p.Servers, p.Fallback = pick(all, want, rtmp), true
		}
		return p
	}
	ingests := func(ln liveNode) bool { return ln.n.Role.Ingests() }
	serves := func(ln liveNode) bool { return ln.n.Role.Serves() }
	s.Origins = build("origins", ingests, false)
	s.Edges = build("edges", serves, false)
	s.All = build("all", func(liveNode) bool { return true }, false)
	s.RTMP = build("rtmp", ingests, true)
	s.Origins.Sticky = stickies(id+"_origin_", s.Origins.Servers)
	s.Edges.Sticky = stickies(id+"_edge_", s.Edges.Servers)
	return s
}

// maxBackups bounds the backups of a sticky upstream: the next servers of
// the pool, in order, so that a big pool does not square the config's size.
const maxBackups = 3

// stickies makes one preferring upstream per server that has a safe key.
func stickies(prefix string, servers []backend) []sticky {
	var out []sticky
	for i, b := range servers {
		if b.Key == "" {
			continue
		}
		st := sticky{Key: b.Key, Upstream: prefix + strconv.Itoa(i), Primary: b}
		for j := 1; j < len(servers) && j <= maxBackups; j++ {
			st.Backups = append(st.Backups, servers[(i+j)%len(servers)])
		}
		out = append(out, st)
	}
	return out
}
