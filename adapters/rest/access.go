package rest

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// AccessConfig says who may call the REST API (the `rest:` section of the
// node's configuration). A request is let in when it comes from an address
// in AllowedCIDRs, or carries "Authorization: Bearer <JWT>" signed (HS256)
// with JWTSecret and not expired. Anything else gets 403. Liveness, the
// OpenAPI document and the login stay open.
type AccessConfig struct {
	// AllowedCIDRs are the client networks let in without a token; a bare
	// address means just that host. nil: 127.0.0.0/8 and ::1. An empty,
	// non-nil list lets no address in (tokens only). The client address is
	// the TCP peer, or, when an allowed peer (a load balancer) forwards the
	// request, the client address it names in X-Forwarded-For / X-Real-IP.
	AllowedCIDRs []string `yaml:"allowed_cidrs"`
	// JWTSecret checks Bearer tokens (and signs the dashboard's login
	// tokens). Empty: no token is accepted. At least MinJWTSecretLen bytes.
	JWTSecret string `yaml:"jwt_secret"`
	// AdminUser and AdminPassword let POST /rest/v2/users/authenticate hand
	// out a JWT (the dashboard's login form). Empty: login is refused.
	AdminUser     string `yaml:"admin_user"`
	AdminPassword string `yaml:"admin_password"`
	// LoginTTL is how long a login token lasts (default 12h).
	LoginTTL time.Duration `yaml:"login_ttl"`
	// LoginFailures is how many failed logins or bad bearer tokens a client
	// address may send in a row before it is answered 429 with Retry-After
	// (default DefaultLoginFailures); LoginBackoff gives it one more try each
	// (default DefaultLoginBackoff).
	LoginFailures int           `yaml:"login_failures"`
	LoginBackoff  time.Duration `yaml:"login_backoff"`
}

// MinJWTSecretLen is the shortest AccessConfig.JWTSecret accepted, in bytes.
const MinJWTSecretLen = 32

// DefaultLoginTTL is AccessConfig.LoginTTL's default.
const DefaultLoginTTL = 12 * time.Hour

// DefaultAllowedCIDRs are the networks allowed when AllowedCIDRs is nil.
func DefaultAllowedCIDRs() []string { return []string{"127.0.0.0/8", "::1/128"} }

// loginAudience is the audience of the tokens the login endpoint issues.
const loginAudience = "colony-rest"

// access is an AccessConfig ready to use.
type access struct {
	nets     []netip.Prefix
	secret   []byte
	user     string
	password string
	ttl      time.Duration
	failures int
	backoff  time.Duration
}

// Validate checks the configuration.
func (c AccessConfig) Validate() error {
	_, err := c.compile()
	return err
}

func (c AccessConfig) compile() (access, error) {
	cidrs := c.AllowedCIDRs
	if cidrs == nil {
		cidrs = DefaultAllowedCIDRs()
	}
	a := access{user: c.AdminUser, password: c.AdminPassword, ttl: c.LoginTTL, failures: c.LoginFailures, backoff: c.LoginBackoff}
	for _, s := range cidrs {
		p, err := parseCIDR(s)
		if err != nil {
			return access{}, err
		}
		a.nets = append(a.nets, p)
	}
	if c.JWTSecret != "" {
		if len(c.JWTSecret) < MinJWTSecretLen {
			return access{}, fmt.Errorf("rest.jwt_secret is shorter than %d bytes", MinJWTSecretLen)
		}
		a.secret = []byte(c.JWTSecret)
	}
	if (c.AdminUser == "") != (c.AdminPassword == "") {
		return access{}, errors.New("rest.admin_user and rest.admin_password go together")
	}
	if c.AdminUser != "" && a.secret == nil {
		return access{}, errors.New("rest.admin_user needs rest.jwt_secret (it signs the login tokens)")
	}
	if a.ttl <= 0 {
		a.ttl = DefaultLoginTTL
	}
	if a.failures < 0 || a.backoff < 0 {
		return access{}, errors.New("rest.login_failures and rest.login_backoff must not be negative")
	}
	if a.failures == 0 {
		a.failures = DefaultLoginFailures
	}
	if a.backoff == 0 {
		a.backoff = DefaultLoginBackoff
	}
	return a, nil
}

// parseCIDR parses "10.0.0.0/8", "::1/128" or a bare address.
func parseCIDR(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("rest.allowed_cidrs: %q: %w", s, err)
		}
		return p.Masked(), nil
	}
	addr, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("rest.allowed_cidrs: %q is neither an address nor a CIDR: %w", s, err)
	}
	addr = addr.Unmap()
	return netip.PrefixFrom(addr, addr.BitLen()), nil
}

// allowedAddr reports whether remoteAddr ("host:port") is in an allowed network.
func (a access) allowedAddr(remoteAddr string) bool {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	addr = addr.Unmap().WithZone("")
	for _, p := range a.nets {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// clientAddr returns the address of r's client: the TCP peer, or the one
// an allowed peer (a load balancer) forwards for, as allowedRequest judges it.
func (a access) clientAddr(r *http.Request) string {
	peer, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		peer = r.RemoteAddr
	}
	if !a.allowedAddr(r.RemoteAddr) {
		return peer
	}
	if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
		hops := strings.Split(xff[len(xff)-1], ",")
		return strings.TrimSpace(hops[len(hops)-1])
	}
	if ip := strings.TrimSpace(r.Header.Get("X-Real-IP")); ip != "" {
		return ip
	}
	return peer
}

// allowedRequest reports whether r comes from an allowed address. Behind a
// load balancer the TCP peer is the balancer (often 127.0.0.1): when an
// allowed peer forwards for a client (X-Forwarded-For, X-Real-IP), the
// client's address is judged instead, the one the nearest proxy appended.
// A forwarded header from a peer that is not allowed changes nothing.
func (a access) allowedRequest(r *http.Request) bool {
	if !a.allowedAddr(r.RemoteAddr) {
		return false
	}
	if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
		hops := strings.Split(xff[len(xff)-1], ",")
		return a.allowedAddr(strings.TrimSpace(hops[len(hops)-1]))
	}
	if ip := r.Header.Get("X-Real-IP"); ip != "" {
		return a.allowedAddr(strings.TrimSpace(ip))
	}
	return true
}

// validToken reports whether tok is an HS256 JWT signed with the secret,
// with an expiry that has not passed.
func (a access) validToken(tok string, now time.Time) bool {
	if a.secret == nil || tok == "" || len(tok) > 8192 {
		return false
	}
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	_, err := p.Parse(tok, func(*jwt.Token) (any, error) { return a.secret, nil })
	return err == nil
}

// bearer extracts the token of "Authorization: Bearer <token>"; a bare
// token (as Ant Media's JWT filter takes it) is accepted too.
func bearer(h string) string {
	h = strings.TrimSpace(h)
	if scheme, tok, ok := strings.Cut(h, " "); ok {
		if !strings.EqualFold(scheme, "Bearer") {
			return ""
		}
		return strings.TrimSpace(tok)
	}
	return h
}

// guard lets allowed requests through to h and answers the rest 403.
func (s *Server) guard(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if forwarded(r) {
			// Another node of the cluster, which let the client in.
			if validForward(s.cfg.Forward.Secret, r.Header.Get(ForwardHeader), s.cfg.Now()) {
				h(w, r)
				return
			}
			writeJSON(w, http.StatusForbidden, Result{Success: false, Message: "bad " + ForwardHeader + " token", ErrorID: http.StatusForbidden})
			return
		}
		if s.access.allowedRequest(r) {
			h(w, r)
			return
		}
		if tok := bearer(r.Header.Get("Authorization")); tok != "" {
			now, client := s.cfg.Now(), s.access.clientAddr(r)
			if wait := s.failures.wait(client, now); wait > 0 {
				tooMany(w, wait)
				return
			}
			if s.access.validToken(tok, now) {
				h(w, r)
				return
			}
			s.failures.fail(client, now)
			writeJSON(w, http.StatusForbidden, Result{Success: false, Message: "not allowed: the bearer token is invalid or expired", ErrorID: http.StatusForbidden})
			return
		}
		writeJSON(w, http.StatusForbidden, Result{Success: false, Message: "not allowed: call from an allowed address or send Authorization: Bearer <JWT>", ErrorID: http.StatusForbidden})
	}
}

// signLogin returns a login token for user, valid for the login TTL.
func (a access) signLogin(user string, now time.Time) (string, error) {
	claims := jwt.RegisteredClaims{
		Subject:   user,
		Audience:  jwt.ClaimStrings{loginAudience},
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(a.ttl)),
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(a.secret)
}
