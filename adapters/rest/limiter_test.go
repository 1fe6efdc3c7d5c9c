package rest

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestFailureLimiter(t *testing.T) {
	l := newFailureLimiter(3, 10*time.Second)
	at := now
	for i := range 3 {
		if w := l.wait("a", at); w != 0 {
			t.Fatalf("try %d: wait %v before the burst is spent", i, w)
		}
		l.fail("a", at)
	}
	if w := l.wait("a", at); w != 10*time.Second {
		t.Fatalf("after 3 failures: wait %v, want 10s", w)
	}
	if w := l.wait("b", at); w != 0 {
		t.Fatalf("another address waits %v", w)
	}
	if w := l.wait("a", at.Add(4*time.Second)); w != 6*time.Second {
		t.Fatalf("4 s later: wait %v, want 6s", w)
	}
	if w := l.wait("a", at.Add(10*time.Second)); w != 0 {
		t.Fatalf("one refill later: wait %v", w)
	}
	l.fail("a", at.Add(10*time.Second))
	if w := l.wait("a", at.Add(10*time.Second)); w != 10*time.Second {
		t.Fatalf("a failure after the refill: wait %v, want 10s", w)
	}
	// Long idle: the bucket is full again (and not more than full).
	later := at.Add(time.Hour)
	for range 3 {
		l.fail("a", later)
	}
	if w := l.wait("a", later); w == 0 {
		t.Fatal("the bucket held more than its burst after a long idle")
	}
}

func TestFailureLimiterBounded(t *testing.T) {
	l := newFailureLimiter(2, time.Second)
	for i := range maxLimited + 10 {
		l.fail(strings.Repeat("x", i%7)+string(rune('a'+i%26))+time.Duration(i).String(), now)
	}
	l.mu.Lock()
	n := len(l.buckets)
	l.mu.Unlock()
	if n > maxLimited {
		t.Fatalf("%d addresses remembered, want at most %d", n, maxLimited)
	}
}

// TestLoginRateLimit: failed logins and bad bearer tokens from one client
// address are answered 429 with Retry-After once the burst is spent, even
// with the right password, until the backoff gives another try.
func TestLoginRateLimit(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.Access = AccessConfig{AllowedCIDRs: []string{}, JWTSecret: testServerSecret, AdminUser: "admin", AdminPassword: "pw",
			LoginFailures: 3, LoginBackoff: 20 * time.Second}
	})
	const login = "/rest/v2/users/authenticate"
	// Calls without credentials are not failures: the dashboard makes them before its login form.
	for range 10 {
		if code, _ := e.do(t, "GET", "/rest/v2/version", ""); code != 403 {
			t.Fatalf("no token = %d, want 403", code)
		}
	}
	for i := range 3 {
		if code, body := e.do(t, "POST", login, `{"email":"admin","password":"wrong"}`); code != 401 {
			t.Fatalf("wrong password %d = %d %s", i, code, body)
		}
	}
	code, hdr, body := e.raw(t, "POST", login, `{"email":"admin","password":"pw"}`)
	if code != http.StatusTooManyRequests || hdr.Get("Retry-After") != "20" || !strings.Contains(body, `"success":false`) || !strings.Contains(body, `"errorId":429`) {
		t.Fatalf("login after 3 failures = %d Retry-After %q %s", code, hdr.Get("Retry-After"), body)
	}
	// Bad bearer tokens from the same address are refused the same way.
	code, hdr, _ = e.raw(t, "GET", "/rest/v2/version", "", "Authorization: Bearer not-a-jwt")
	if code != 429 || hdr.Get("Retry-After") == "" {
		t.Fatalf("bad token while limited = %d %q", code, hdr.Get("Retry-After"))
	}
	e.clock.Set(now.Add(15 * time.Second))
	if code, hdr, _ := e.raw(t, "POST", login, `{"email":"admin","password":"pw"}`); code != 429 || hdr.Get("Retry-After") != "5" {
		t.Fatalf("15 s later = %d Retry-After %q, want 429 and 5", code, hdr.Get("Retry-After"))
	}
	e.clock.Set(now.Add(20 * time.Second))
	code, body = e.do(t, "POST", login, `{"email":"admin","password":"pw"}`)
	if code != 200 || !strings.Contains(body, `"success":true`) {
		t.Fatalf("login after the backoff = %d %s", code, body)
	}
	// A bad token takes the try the backoff gave.
	if code, _ := e.do(t, "GET", "/rest/v2/version", "", "Authorization: Bearer not-a-jwt"); code != 403 {
		t.Fatalf("bad token = %d, want 403", code)
	}
	if code, _ := e.do(t, "GET", "/rest/v2/version", "", "Authorization: Bearer not-a-jwt"); code != 429 {
		t.Fatalf("second bad token = %d, want 429", code)
	}
}

func TestClientAddr(t *testing.T) {
	a, err := AccessConfig{AllowedCIDRs: []string{"127.0.0.1"}}.compile()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		remote  string
		headers map[string]string
		want    string
	}{
		{"10.0.0.1:5", nil, "10.0.0.1"},
		{"10.0.0.1:5", map[string]string{"X-Forwarded-For": "1.2.3.4"}, "10.0.0.1"}, // not a trusted proxy
		{"127.0.0.1:5", map[string]string{"X-Forwarded-For": "9.9.9.9, 1.2.3.4"}, "1.2.3.4"},
		{"127.0.0.1:5", map[string]string{"X-Real-IP": "5.6.7.8"}, "5.6.7.8"},
		{"127.0.0.1:5", nil, "127.0.0.1"},
	}
	for _, tt := range tests {
		r, _ := http.NewRequest("GET", "/", nil)
		r.RemoteAddr = tt.remote
		for k, v := range tt.headers {
			r.Header.Set(k, v)
		}
		if got := a.clientAddr(r); got != tt.want {
			t.Errorf("%s %v: client %q, want %q", tt.remote, tt.headers, got, tt.want)
		}
	}
	for _, bad := range []AccessConfig{{LoginFailures: -1}, {LoginBackoff: -time.Second}} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%+v validated", bad)
		}
	}
}
