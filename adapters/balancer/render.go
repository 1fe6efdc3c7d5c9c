package balancer

import (
	"bytes"
	"embed"
	"fmt"
	"regexp"
	"text/template"
	"time"

	"github.com/colony-live/colony/core/node"
)

//go:embed templates/*.tmpl
var templateFS embed.FS

var templates = template.Must(template.New("").Funcs(template.FuncMap{
	"pair": func(p pool, cookie string) poolCookie { return poolCookie{Pool: p, Cookie: cookie} },
}).ParseFS(templateFS, "templates/*.tmpl"))

type poolCookie struct {
	Pool   pool
	Cookie string
}

// Render writes a complete configuration of cfg.Kind for the nodes alive at
// now. It is pure: the same nodes and time give the same bytes, so callers
// compare renders to see whether anything changed. ErrNoLiveNodes when no
// node is alive (or every live one has unusable addresses).
func Render(cfg Config, nodes []node.Node, now time.Time) ([]byte, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	m, err := buildModel(cfg, nodes, now)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := templates.ExecuteTemplate(&b, string(cfg.Kind)+templateSuffix(cfg.Kind), m); err != nil {
		return nil, fmt.Errorf("render %s: %w", cfg.Kind, err)
	}
	return tidy(b.Bytes()), nil
}

var blankRuns = regexp.MustCompile(`\n{3,}`)

// tidy leaves at most one blank line in a row and one newline at the end.
func tidy(b []byte) []byte {
	b = blankRuns.ReplaceAll(b, []byte("\n\n"))
	return append(bytes.TrimRight(b, "\n"), '\n')
}

func templateSuffix(k Kind) string {
	if k == HAProxy {
		return ".cfg.tmpl"
	}
	return ".conf.tmpl"
}

// HasRTMP reports whether any site listens for RTMP.
func (m model) HasRTMP() bool {
	for _, s := range m.Sites {
		if s.RTMPListen != "" {
			return true
		}
	}
	return false
}
