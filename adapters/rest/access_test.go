package rest

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/colony-live/colony/ports/portstest"
)

const testServerSecret = "server-secret-0123456789abcdefghijk"

func serverJWT(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestAccessControl runs an API that lets no loopback address in: only
// tokens, and the open routes. (The failure limit is raised: see
// TestFailureLimit.)
func TestAccessControl(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.Access = AccessConfig{AllowedCIDRs: []string{"10.0.0.0/8"}, JWTSecret: testServerSecret, AdminUser: "admin", AdminPassword: "pw", LoginFailures: 100}
	})
	key := []byte(testServerSecret)
	exp := now.Add(time.Hour).Unix()
	valid := serverJWT(t, jwt.SigningMethodHS256, key, jwt.MapClaims{"sub": "ops", "exp": exp})
	expired := serverJWT(t, jwt.SigningMethodHS256, key, jwt.MapClaims{"exp": now.Add(-time.Second).Unix()})
	noExp := serverJWT(t, jwt.SigningMethodHS256, key, jwt.MapClaims{"sub": "ops"})
	wrongKey := serverJWT(t, jwt.SigningMethodHS256, []byte(strings.Repeat("w", 32)), jwt.MapClaims{"exp": exp})
	hs384 := serverJWT(t, jwt.SigningMethodHS384, key, jwt.MapClaims{"exp": exp})
	none := serverJWT(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, jwt.MapClaims{"exp": exp})
	forbidden := []string{`"success":false`, `"errorId":403`}
	const list = "/LiveApp/rest/v2/broadcasts/list/0/10"
	e.check(t, []apiCase{
		{"GET", "/rest/v2/liveness", "", 200, nil, nil},
		{"GET", "/rest/v2/openapi.json", "", 200, []string{`"openapi"`}, nil},
		{"GET", list, "", 403, forbidden, nil},
		{"GET", "/rest/v2/cluster/nodes/0/10", "", 403, forbidden, nil},
		{"GET", "/rest/v2/version", "", 403, forbidden, nil},
		{"POST", "/LiveApp/rest/v2/broadcasts/create", `{}`, 403, forbidden, nil},
		{"DELETE", "/rest/v2/cluster/node/n2", "", 403, forbidden, nil},
		{"GET", "/NoApp/rest/v2/broadcasts/list/0/10", "", 403, forbidden, nil}, // no app names leak
		{"GET", list, "", 200, []string{`"streamId":"alpha"`}, []string{"Authorization: Bearer " + valid}},
		{"GET", list, "", 200, nil, []string{"Authorization: bearer " + valid}},
		{"GET", list, "", 200, nil, []string{"Authorization: " + valid}}, // Ant Media's bare form
		{"GET", list, "", 403, forbidden, []string{"Authorization: Bearer " + expired}},
		{"GET", list, "", 403, forbidden, []string{"Authorization: Bearer " + noExp}},
		{"GET", list, "", 403, forbidden, []string{"Authorization: Bearer " + wrongKey}},
		{"GET", list, "", 403, forbidden, []string{"Authorization: Bearer " + hs384}},
		{"GET", list, "", 403, forbidden, []string{"Authorization: Bearer " + none}},
		{"GET", list, "", 403, forbidden, []string{"Authorization: Bearer " + valid + "x"}},
		{"GET", list, "", 403, forbidden, []string{"Authorization: Basic " + valid}},
		{"GET", list, "", 403, forbidden, []string{"Authorization: Bearer "}},
		{"GET", list, "", 403, forbidden, []string{"X-Forwarded-For: 10.1.2.3"}}, // not trusted
		// Login.
		{"POST", "/rest/v2/users/authenticate", `{"email":"admin","password":"nope"}`, 401, []string{`"success":false`}, nil},
		{"POST", "/rest/v2/users/authenticate", `{"email":"root","password":"pw"}`, 401, nil, nil},
		{"POST", "/rest/v2/users/authenticate", `{"email":"admin"`, 400, nil, nil},
	})
	// A login token opens the API until it expires.
	code, body := e.do(t, "POST", "/rest/v2/users/authenticate", `{"email":"admin","password":"pw"}`)
	var res Result
	if err := json.Unmarshal([]byte(body), &res); code != 200 || err != nil || !res.Success || res.DataID == "" {
		t.Fatalf("login = %d %s", code, body)
	}
	e.check(t, []apiCase{{"GET", "/rest/v2/cluster/node-count", "", 200, []string{`"number":2`}, []string{"Authorization: Bearer " + res.DataID}}})
	e.clock.Set(now.Add(DefaultLoginTTL + time.Second))
	e.check(t, []apiCase{{"GET", "/rest/v2/cluster/node-count", "", 403, forbidden, []string{"Authorization: Bearer " + res.DataID}}})
}

func TestAccessDefaultsToLoopback(t *testing.T) {
	e := newEnv(t, nil) // the test client is 127.0.0.1
	e.check(t, []apiCase{
		{"GET", "/rest/v2/version", "", 200, []string{`"versionName":"test"`}, nil},
		{"POST", "/rest/v2/users/authenticate", `{"email":"admin","password":"pw"}`, 403, []string{"not configured"}, nil},
	})
}

func TestAllowedAddr(t *testing.T) {
	tests := []struct {
		cidrs  []string
		remote string
		want   bool
	}{
		{nil, "127.0.0.1:5000", true},
		{nil, "127.9.8.7:5000", true},
		{nil, "[::1]:5000", true},
		{nil, "[::ffff:127.0.0.1]:5000", true},
		{nil, "10.0.0.1:5000", false},
		{nil, "[2001:db8::1]:5000", false},
		{[]string{}, "127.0.0.1:5000", false},
		{[]string{"192.168.1.5"}, "192.168.1.5:1", true},
		{[]string{"192.168.1.5"}, "192.168.1.6:1", false},
		{[]string{"10.0.0.0/8", "2001:db8::/32"}, "[2001:db8::1]:5000", true},
		{[]string{"10.0.0.0/8"}, "[::ffff:10.2.3.4]:5000", true},
		{[]string{"10.1.2.3/8"}, "10.200.0.1:1", true}, // host bits are masked
		{[]string{"0.0.0.0/0"}, "8.8.8.8:53", true},
		{nil, "garbage", false},
		{nil, "", false},
		{nil, "[fe80::1%eth0]:5000", false},
	}
	for _, tt := range tests {
		a, err := AccessConfig{AllowedCIDRs: tt.cidrs}.compile()
		if err != nil {
			t.Fatalf("%v: %v", tt.cidrs, err)
		}
		if got := a.allowedAddr(tt.remote); got != tt.want {
			t.Errorf("cidrs %v, remote %q: allowed = %v, want %v", tt.cidrs, tt.remote, got, tt.want)
		}
	}
}

func TestAccessConfigValidate(t *testing.T) {
	long := strings.Repeat("k", MinJWTSecretLen)
	tests := []struct {
		name string
		cfg  AccessConfig
		ok   bool
	}{
		{"zero", AccessConfig{}, true},
		{"cidrs", AccessConfig{AllowedCIDRs: []string{"10.0.0.0/8", " ::1 ", "192.168.0.1"}}, true},
		{"bad cidr", AccessConfig{AllowedCIDRs: []string{"10.0.0.0/33"}}, false},
		{"not an address", AccessConfig{AllowedCIDRs: []string{"localhost"}}, false},
		{"short secret", AccessConfig{JWTSecret: "short"}, false},
		{"secret", AccessConfig{JWTSecret: long}, true},
		{"admin without secret", AccessConfig{AdminUser: "a", AdminPassword: "b"}, false},
		{"admin without password", AccessConfig{AdminUser: "a", JWTSecret: long}, false},
		{"admin", AccessConfig{AdminUser: "a", AdminPassword: "b", JWTSecret: long}, true},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		if (err == nil) != tt.ok {
			t.Errorf("%s: Validate = %v, want ok=%v", tt.name, err, tt.ok)
		}
		if _, err := New(Config{Access: tt.cfg}, &fakeNode{}, nil, nil); err == nil {
			t.Errorf("%s: New without a store succeeded", tt.name)
		}
	}
	if _, err := New(Config{Access: AccessConfig{JWTSecret: "short"}}, &fakeNode{}, portstest.NewMemStore(), portstest.NewMemStore()); err == nil {
		t.Error("New with a short JWT secret succeeded")
	}
}

func TestBearer(t *testing.T) {
	for h, want := range map[string]string{
		"Bearer abc": "abc", "bearer  abc ": "abc", "abc": "abc", "Basic abc": "", "": "", "Bearer": "Bearer",
	} {
		if got := bearer(h); got != want {
			t.Errorf("bearer(%q) = %q, want %q", h, got, want)
		}
	}
}

func FuzzParseCIDR(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8", "::1", "::1/128", "1.2.3.4", "x", "1.2.3.4/99", "", "::ffff:1.2.3.4/104"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parseCIDR(s)
		if err == nil && !p.IsValid() {
			t.Fatalf("parseCIDR(%q) = invalid prefix without an error", s)
		}
	})
}

func TestAccessBehindBalancer(t *testing.T) {
	a, err := AccessConfig{}.compile()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, peer, xff, realIP string
		want                    bool
	}{
		{"local, direct", "127.0.0.1:5000", "", "", true},
		{"remote, direct", "203.0.113.9:5000", "", "", false},
		{"local balancer for a remote client", "127.0.0.1:5000", "203.0.113.9", "", false},
		{"local balancer for a local client", "127.0.0.1:5000", "127.0.0.1", "", true},
		{"spoofed hop before the balancer's", "127.0.0.1:5000", "127.0.0.1, 203.0.113.9", "", false},
		{"X-Real-IP of a remote client", "127.0.0.1:5000", "", "203.0.113.9", false},
		{"remote peer claiming to forward for localhost", "203.0.113.9:5000", "127.0.0.1", "", false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/rest/v2/version", nil)
		r.RemoteAddr = tt.peer
		if tt.xff != "" {
			r.Header.Set("X-Forwarded-For", tt.xff)
		}
		if tt.realIP != "" {
			r.Header.Set("X-Real-IP", tt.realIP)
		}
		if got := a.allowedRequest(r); got != tt.want {
			t.Errorf("%s: allowed = %v, want %v", tt.name, got, tt.want)
		}
	}
}
