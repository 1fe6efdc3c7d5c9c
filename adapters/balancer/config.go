package balancer

import (
	"net"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/colony-live/colony/core/node"
)

// Kind names a balancer.
type Kind string

// The balancers Colony renders for.
const (
	Nginx   Kind = "nginx"
	HAProxy Kind = "haproxy"
)

// ParseKind validates a balancer name.
func ParseKind(s string) (Kind, error) {
	switch k := Kind(s); k {
	case Nginx, HAProxy:
		return k, nil
	}
	return "", invalid("balancer kind %q is not nginx or haproxy", s)
}

// ConfigFile is the usual name of k's configuration file in its prefix.
func (k Kind) ConfigFile() string {
	if k == HAProxy {
		return "haproxy.cfg"
	}
	return "nginx.conf"
}

// Defaults of Config.
const (
	DefaultHTTPListen   = ":80"
	DefaultRTMPListen   = ":1935"
	DefaultNodeRTMPPort = 1935
)

// Config says what to render. Zero fields take the defaults stated.
type Config struct {
	// Kind is nginx or haproxy (required).
	Kind Kind
	// Prefix is the absolute directory of the balancer's pid file, logs,
	// temporary files and (HAProxy) stats socket (required).
	Prefix string
	// HTTPListen is where viewers, publishers (WHIP, WebSocket), the REST API
	// and the dashboard connect (default ":80"). A host of "" or "*" listens
	// on every address.
	HTTPListen string
	// RTMPListen takes RTMP publishers (default ":1935"); "-" renders no RTMP
	// listener.
	RTMPListen string
	// HTTPSListen, when set, serves what HTTPListen serves over TLS (HTTP/2
	// and HTTP/1.1), with TLSCert: nginx reads the chain from TLSCert and
	// the key from TLSKey; HAProxy wants both in TLSCert (the chain, then
	// the key) and no TLSKey. The balancer reads them when it loads its
	// configuration: a renewal needs its reload.
	HTTPSListen string
	TLSCert     string
	TLSKey      string
	// NodeRTMPPort is the RTMP port of an origin whose registry record has
	// no RTMP address (default 1935).
	NodeRTMPPort int
	// StreamModule is the path of nginx's ngx_stream_module.so, loaded with
	// load_module when set; empty when nginx has the module built in.
	StreamModule string
	// Groups give node groups listeners of their own, served by that
	// group's nodes (or by the whole cluster's while the group has none of
	// the kind needed).
	Groups []GroupListen
	// DeadAfter is how old a heartbeat may be for a node to be listed
	// (default node.DefaultDeadAfter).
	DeadAfter time.Duration
}

// GroupListen is a listener of its own for one node group.
type GroupListen struct {
	Group      string // node group name
	HTTPListen string // required
	RTMPListen string // optional
}

var (
	groupRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	hostRe  = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$`)
	// pathRe keeps the prefix and module path free of anything the config
	// languages would read as syntax (quotes, ;, braces, #, $, spaces).
	pathRe = regexp.MustCompile(`^/[A-Za-z0-9/._+@:-]*$`)
)

func (c Config) withDefaults() Config {
	if c.HTTPListen == "" {
		c.HTTPListen = DefaultHTTPListen
	}
	if c.RTMPListen == "" {
		c.RTMPListen = DefaultRTMPListen
	}
	if c.RTMPListen == "-" {
		c.RTMPListen = ""
	}
	if c.NodeRTMPPort == 0 {
		c.NodeRTMPPort = DefaultNodeRTMPPort
	}
	if c.DeadAfter <= 0 {
		c.DeadAfter = node.DefaultDeadAfter
	}
	c.Prefix = filepath.Clean(c.Prefix)
	return c
}

// validate checks a Config that went through withDefaults.
func (c Config) validate() error {
	if _, err := ParseKind(string(c.Kind)); err != nil {
		return err
	}
	if !filepath.IsAbs(c.Prefix) || !pathRe.MatchString(c.Prefix) {
		return invalid("prefix %q must be an absolute path of letters, digits and / . _ + @ : -", c.Prefix)
	}
	if c.StreamModule != "" && !pathRe.MatchString(c.StreamModule) {
		return invalid("stream module path %q must be absolute, of letters, digits and / . _ + @ : -", c.StreamModule)
	}
	if c.NodeRTMPPort < 1 || c.NodeRTMPPort > 65535 {
		return invalid("node RTMP port %d out of range", c.NodeRTMPPort)
	}
	seen := map[string]bool{}
	check := func(what, addr string, optional bool) error {
		if addr == "" && optional {
			return nil
		}
		if _, _, err := parseListen(addr); err != nil {
			return invalid("%s: %v", what, err)
		}
		if seen[addr] {
			return invalid("%s %s is used twice", what, addr)
		}
		seen[addr] = true
		return nil
	}
	if err := check("http listen", c.HTTPListen, false); err != nil {
		return err
	}
	if err := check("rtmp listen", c.RTMPListen, true); err != nil {
		return err
	}
	if err := c.validateTLS(check); err != nil {
		return err
	}
	groups := map[string]bool{}
	for _, g := range c.Groups {
		if !groupRe.MatchString(g.Group) {
			return invalid("group %q: a group listener needs a name of letters, digits, _ and -", g.Group)
		}
		if groups[g.Group] {
			return invalid("group %s has two listeners", g.Group)
		}
		groups[g.Group] = true
		if err := check("group "+g.Group+" http listen", g.HTTPListen, false); err != nil {
			return err
		}
		if err := check("group "+g.Group+" rtmp listen", g.RTMPListen, true); err != nil {
			return err
		}
	}
	return nil
}

// validateTLS checks the HTTPS listener and its files.
func (c Config) validateTLS(check func(what, addr string, optional bool) error) error {
	if c.HTTPSListen == "" {
		if c.TLSCert != "" || c.TLSKey != "" {
			return invalid("a TLS certificate without an https listen address")
		}
		return nil
	}
	if err := check("https listen", c.HTTPSListen, false); err != nil {
		return err
	}
	for what, p := range map[string]string{"certificate": c.TLSCert, "key": c.TLSKey} {
		if p != "" && !pathRe.MatchString(p) {
			return invalid("TLS %s path %q must be absolute, of letters, digits and / . _ + @ : -", what, p)
		}
	}
	switch {
	case c.TLSCert == "":
		return invalid("https listen %s needs a TLS certificate file", c.HTTPSListen)
	case c.Kind == Nginx && c.TLSKey == "":
		return invalid("nginx needs the TLS key file too")
	case c.Kind == HAProxy && c.TLSKey != "":
		return invalid("HAProxy reads the key from the certificate file (the chain, then the key): give no key file")
	}
	return nil
}

// parseListen splits a listen address; host is "" for every address.
func parseListen(addr string) (host string, port int, err error) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err = strconv.Atoi(p)
	if err != nil || port < 1 || port > 65535 {
		return "", 0, invalid("port %q of %s", p, addr)
	}
	if h == "*" {
		h = ""
	}
	if h != "" && net.ParseIP(h) == nil && !hostRe.MatchString(h) {
		return "", 0, invalid("host %q of %s", h, addr)
	}
	return h, port, nil
}

// listenFor formats a listen address as kind writes it.
func listenFor(k Kind, addr string) string {
	host, port, _ := parseListen(addr)
	p := strconv.Itoa(port)
	switch {
	case host == "" && k == Nginx:
		return "*:" + p
	case host == "":
		return ":" + p
	case strings.Contains(host, ":"):
		return "[" + host + "]:" + p
	}
	return host + ":" + p
}
