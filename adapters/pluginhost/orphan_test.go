package pluginhost

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	transcoderv1 "github.com/colony-live/colony/plugins/transcoder/v1"
)

// A plugin whose host died without closing it (SIGKILL, a crash) exits by
// itself instead of lingering.
func TestPluginExitsWhenItsHostDies(t *testing.T) {
	bin := filepath.Join(pluginDir(t, "real"), "colony-transcoder-ffmpeg")
	outFile := filepath.Join(t.TempDir(), "stdout")
	// sh plays the host: it starts the plugin in the background, lets it
	// start, and exits.
	cmd := exec.Command("sh", "-c", `"$0" >"$1" 2>/dev/null & echo $!; sleep 1`, bin, outFile)
	cmd.Env = append(os.Environ(), transcoderv1.MagicCookieKey+"="+transcoderv1.MagicCookieValue)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = exec.Command("kill", "-9", strconv.Itoa(pid)).Run() })
	// It served (go-plugin's handshake line: 1|1|unix|/tmp/plugin...|grpc|...).
	waitFor(t, "the plugin's handshake line", 5*time.Second, func() bool {
		b, _ := os.ReadFile(outFile)
		return strings.Contains(string(b), "|grpc|")
	})
	waitFor(t, "the orphaned plugin to exit", 5*time.Second, func() bool { return !processAlive(pid) })
}
