package pluginhost

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

func TestHCLogAdapter(t *testing.T) {
	var buf bytes.Buffer
	l := newHCLog(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})))
	if l.GetLevel() != hclog.Info || l.IsDebug() || !l.IsInfo() || !l.IsError() {
		t.Fatalf("level %v, debug %v", l.GetLevel(), l.IsDebug())
	}
	p := l.Named("plugin").Named("ffmpeg").With("pid", 42)
	p.Debug("hidden")
	p.Warn("ffmpeg says", "line", "x")
	p.ResetNamed("other").Error("boom", "error", "bad")
	p.StandardLogger(&hclog.StandardLoggerOptions{ForceLevel: hclog.Error}).Print("from a standard logger")
	out := buf.String()
	for _, want := range []string{
		`level=WARN msg="ffmpeg says" logger=plugin.ffmpeg pid=42 line=x`,
		`level=ERROR msg=boom logger=other pid=42 error=bad`,
		`level=ERROR msg="from a standard logger" logger=plugin.ffmpeg pid=42`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "hidden") {
		t.Errorf("a debug line passed an info handler:\n%s", out)
	}
}
