// Package dashboard serves Colony's web dashboard: a single page (streams,
// player, applications, cluster) embedded in the binary, that talks to the
// node's REST API. It loads nothing from outside the node.
//
// The page calls the REST API as the browser's address allows (see
// rest.AccessConfig). When the API answers 403 it shows a login form that
// posts {email, password} to /rest/v2/users/authenticate; the JWT it gets
// back (the result's dataId) is kept in the tab's sessionStorage and sent as
// "Authorization: Bearer <JWT>" until it expires or "Log out" drops it.
package dashboard

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

// ui holds the page and its assets. ui/vendor/hls.min.js is copied from npm
// by scripts/build-web.sh (web/package.json pins the version).
//
//go:embed ui
var ui embed.FS

// AssetPrefix is the URL path under which the assets are served.
const AssetPrefix = "/dashboard/"

// contentSecurityPolicy allows only the node itself; blob: is for hls.js's
// worker and media source.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"media-src 'self' blob:; worker-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// Config configures the dashboard. The zero value is ready to use.
type Config struct{}

// Handler returns the dashboard: the page at "/" (and "/index.html"), its
// assets under AssetPrefix, and 404 for any other path, so that it can be
// mounted as the mux's catch-all: mux.Handle("/", dashboard.Handler(dashboard.Config{})).
func Handler(Config) http.Handler {
	assets, err := fs.Sub(ui, "ui")
	if err != nil {
		panic(err) // the embedded tree always has ui/
	}
	files := http.FileServerFS(assets)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.NotFound(w, r)
			return
		}
		switch p := r.URL.Path; {
		case p == "/" || p == "/index.html":
			h.Set("Cache-Control", "no-cache")
			http.ServeFileFS(w, r, assets, "index.html")
		case strings.HasPrefix(p, AssetPrefix):
			name := strings.TrimPrefix(p, AssetPrefix)
			if !fs.ValidPath(name) || name != path.Clean(name) || name == "index.html" {
				http.NotFound(w, r)
				return
			}
			if st, err := fs.Stat(assets, name); err != nil || st.IsDir() {
				http.NotFound(w, r)
				return
			}
			h.Set("Cache-Control", "no-cache")
			r2 := r.Clone(r.Context())
			r2.URL.Path = "/" + name
			files.ServeHTTP(w, r2)
		default:
			http.NotFound(w, r)
		}
	})
}
