package dashboard

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func get(t *testing.T, srv *httptest.Server, method, path string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, nil)
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestServes(t *testing.T) {
	srv := httptest.NewServer(Handler(Config{}))
	t.Cleanup(srv.Close)
	tests := []struct {
		method, path string
		code         int
		ctype        string
		contains     string
	}{
		{"GET", "/", 200, "text/html", `<script src="/dashboard/app.js"></script>`},
		{"HEAD", "/", 200, "text/html", ""},
		{"GET", "/dashboard/app.js", 200, "text/javascript", "#/cluster"},
		{"GET", "/dashboard/style.css", 200, "text/css", "--accent"},
		{"GET", "/dashboard/vendor/hls.min.js", 200, "text/javascript", "1.7.4"},
		{"GET", "/dashboard/vendor/hls.js.LICENSE", 200, "", "Apache License"},
		{"GET", "/dashboard/", 404, "", ""},
		{"GET", "/dashboard/vendor", 404, "", ""},
		{"GET", "/dashboard/vendor/", 404, "", ""},
		{"GET", "/dashboard/index.html", 404, "", ""},
		{"GET", "/dashboard/nosuch.js", 404, "", ""},
		{"GET", "/dashboard/../dashboard.go", 404, "", ""},
		{"GET", "/dashboard/%2e%2e/dashboard.go", 404, "", ""},
		{"GET", "/app.js", 404, "", ""},
		{"GET", "/LiveApp/whep/s1", 404, "", ""},
		{"POST", "/", 404, "", ""},
		{"POST", "/LiveApp/whep/s1", 404, "", ""},
		{"OPTIONS", "/LiveApp/whep/s1", 404, "", ""},
	}
	for _, tt := range tests {
		resp, body := get(t, srv, tt.method, tt.path)
		if resp.StatusCode != tt.code {
			t.Errorf("%s %s = %d, want %d", tt.method, tt.path, resp.StatusCode, tt.code)
			continue
		}
		if ct := resp.Header.Get("Content-Type"); tt.ctype != "" && !strings.HasPrefix(ct, tt.ctype) {
			t.Errorf("%s %s Content-Type = %q, want %s", tt.method, tt.path, ct, tt.ctype)
		}
		if !strings.Contains(body, tt.contains) {
			t.Errorf("%s %s body lacks %q", tt.method, tt.path, tt.contains)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("%s %s Content-Security-Policy = %q", tt.method, tt.path, csp)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s %s lacks nosniff", tt.method, tt.path)
		}
	}
	// /index.html is the page too (served, or redirected to /).
	if resp, _ := get(t, srv, "GET", "/index.html"); resp.StatusCode != 200 && resp.Header.Get("Location") != "./" {
		t.Errorf("GET /index.html = %d %v", resp.StatusCode, resp.Header)
	}
}

// TestNoExternalResources checks that the page loads nothing from outside
// the node: every src and href is a local path or a hash route.
func TestNoExternalResources(t *testing.T) {
	for _, name := range []string{"ui/index.html", "ui/app.js", "ui/style.css"} {
		b, err := ui.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		for _, bad := range []string{"http://", "https://", "//cdn", "@import", "url("} {
			if strings.Contains(s, bad) {
				t.Errorf("%s contains %q", name, bad)
			}
		}
		for _, m := range regexp.MustCompile(`(?:src|href)="([^"]*)"`).FindAllStringSubmatch(s, -1) {
			if !strings.HasPrefix(m[1], "/") && !strings.HasPrefix(m[1], "#") {
				t.Errorf("%s refers to %q", name, m[1])
			}
		}
	}
}

// TestHLSJSPinned checks that the embedded hls.js is the version web/
// pins, and the same file npm installed when web/node_modules exists.
func TestHLSJSPinned(t *testing.T) {
	var lock struct {
		Packages map[string]struct {
			Version string `json:"version"`
		} `json:"packages"`
	}
	b, err := os.ReadFile(filepath.Join("..", "..", "web", "package-lock.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &lock); err != nil {
		t.Fatal(err)
	}
	want := lock.Packages["node_modules/hls.js"].Version
	if want != "1.7.4" {
		t.Fatalf("web/package-lock.json pins hls.js %q, want 1.7.4", want)
	}
	embedded, err := ui.ReadFile("ui/vendor/hls.min.js")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(embedded), `"`+want+`"`) || len(embedded) < 100_000 {
		t.Fatalf("embedded hls.min.js (%d bytes) is not hls.js %s", len(embedded), want)
	}
	if npm, err := os.ReadFile(filepath.Join("..", "..", "web", "node_modules", "hls.js", "dist", "hls.min.js")); err == nil && string(npm) != string(embedded) {
		t.Fatal("embedded hls.min.js differs from web/node_modules: run scripts/build-web.sh")
	}
}
