//go:build e2e

package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
)

// The adaptive bitrate suite: a real colony, the real transcoder plugins
// (make plugins), the committed 720p clip, ffprobe.

// abrLadderJSON is the app ladder of TestABR: 1080p must be skipped (no
// upscale of the 720p clip).
const abrLadderJSON = `{"encoderSettings":[
 {"height":1080,"videoBitrate":3000000,"audioBitrate":128000},
 {"height":480,"videoBitrate":800000,"audioBitrate":64000},
 {"height":240,"videoBitrate":300000,"audioBitrate":48000}]}`

// abrTargets are the video bitrates of the rungs that apply, by height.
var abrTargets = map[int]int{480: 800_000, 240: 300_000}

// TestABR: the plugin selected at start-up; renditions of an app ladder
// in {id}_adaptive.m3u8 (no upscale), their sizes, bitrates and aligned
// keyframes; a plugin SIGKILLed
// mid-stream leaves the source playing and its renditions come back; a
// swap under a live stream; the plugins CLI and REST endpoints.
func TestABR(t *testing.T) {
	dir := abrPluginDir(t)
	abrPluginsCLI(t, dir)

	n := startNode(t, "abr", nodeOpts{config: fmt.Sprintf("transcoder:\n  plugin: auto\n  plugin_dir: %q\n", dir)})
	// The node probes and selects its plugin at start-up, before any
	// stream needs it (pluginhost.Host.Prepare).
	selectedBy := time.Now().Add(15 * time.Second)
	for !strings.Contains(n.log.String(), `msg="transcoder plugin selected"`) {
		if time.Now().After(selectedBy) {
			t.Fatalf("no plugin selected 15 s after start-up:\n%s", abrGrep(n.log.String(), "transcoder plugin"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	abrPut(t, n.HTTP+"/rest/v2/applications/settings/LiveApp", abrLadderJSON, 200)
	publish(t, n.RTMP+"/LiveApp/abr1")
	base := n.HTTP + "/LiveApp/streams/"
	vs := abrWaitVariants(t, base+"abr1_adaptive.m3u8", 3, 45*time.Second)

	// auto fell back to ffmpeg, and said why.
	if log := n.log.String(); !strings.Contains(log, `msg="transcoder plugin selected"`) ||
		!regexp.MustCompile(`transcoder plugin selected.* plugin=ffmpeg why="no GPU plugin passed its probe".*nvenc: .*NVIDIA`).MatchString(log) {
		t.Errorf("the log does not say auto fell back to ffmpeg and why:\n%s", abrGrep(log, "transcoder plugin"))
	}

	// The variants: the source and 480p, 240p; 1080p skipped.
	heights := []int{}
	for _, v := range vs {
		heights = append(heights, v.height)
		if v.bandwidth <= 0 || len(v.codecs) == 0 || !strings.HasPrefix(v.codecs[0], "avc1.") {
			t.Errorf("variant %+v lacks BANDWIDTH or CODECS", v)
		}
	}
	if !slices.Equal(heights, []int{720, 480, 240}) {
		t.Fatalf("variant heights %v, want [720 480 240] (the source, then the ladder without 1080p)", heights)
	}
	if !strings.Contains(n.log.String(), "1080p: would upscale the 720p source") {
		t.Errorf("the log does not say why 1080p was skipped")
	}
	// ffprobe reads every rendition from the adaptive playlist.
	got := ffprobeStreams(t, base+"abr1_adaptive.m3u8")
	for _, want := range []string{"h264 1280x720", "h264 854x480", "h264 426x240", "aac"} {
		if !slices.Contains(got, want) {
			t.Fatalf("ffprobe of the adaptive playlist found %v, want %s", got, want)
		}
	}
	if slices.ContainsFunc(got, func(s string) bool { return strings.HasSuffix(s, "x1080") }) {
		t.Fatalf("ffprobe found a 1080p rendition: %v", got)
	}
	// Each rendition resolves as a stream of its own.
	for _, id := range []string{"abr1_480p", "abr1_240p"} {
		if code, _, body := httpGet(t, base+id+".m3u8"); code != 200 {
			t.Fatalf("%s.m3u8: %d %s", id, code, body)
		}
	}
	// stream-info lists the renditions.
	var info []struct {
		StreamID    string `json:"streamId"`
		VideoHeight int    `json:"videoHeight"`
	}
	getJSON(t, n.HTTP+"/LiveApp/rest/v2/broadcasts/abr1/stream-info", &info)
	if len(info) != 3 || info[1].StreamID != "abr1_480p" || info[2].VideoHeight != 240 {
		t.Errorf("stream-info = %+v", info)
	}

	// Bitrates within 25 % of the targets, measured from segment sizes.
	for _, v := range vs[1:] {
		bps := abrVideoBitrate(t, base, v.uri, 4*time.Second)
		want := abrTargets[v.height]
		if math.Abs(float64(bps-want)) > 0.25*float64(want) {
			t.Errorf("%dp: video bitrate %d bit/s, want %d ± 25 %%", v.height, bps, want)
		} else {
			t.Logf("%dp: video bitrate %d bit/s (target %d)", v.height, bps, want)
		}
	}

	// Keyframes at the same PTS in every variant, for a few GOPs.
	abrAlignedKeyframes(t, base, vs, 6*time.Second)

	// SIGKILL the plugin: the source never stops, the renditions come back.
	pids := abrPluginPIDs(t, n, "ffmpeg")
	if len(pids) != 1 {
		t.Fatalf("%d colony-transcoder-ffmpeg processes under colony, want 1", len(pids))
	}
	src := abrWatch(base + vs[0].uri)
	r240 := abrWatch(base + vs[2].uri)
	time.Sleep(2 * time.Second)
	killedAt := time.Now()
	if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "renditions segments again after the kill", func() error {
		if n := r240.segmentsSince(killedAt.Add(2 * time.Second)); n < 2 {
			return fmt.Errorf("%d new 240p segments", n)
		}
		return nil
	})
	time.Sleep(time.Second)
	// Segments of 1 s (the clip's GOP), polled every 100 ms.
	if gap := src.maxGap(); gap > 2*time.Second {
		t.Errorf("the source's playlist stalled %v around the plugin kill (segments of 1 s)", gap)
	} else {
		t.Logf("the source's longest wait for a segment around the kill: %v", gap)
	}
	if n := src.segmentsSince(killedAt); n < 3 {
		t.Errorf("the source produced %d segments after the kill", n)
	}
	eventually(t, 10*time.Second, "the log says why", func() error {
		log := n.log.String()
		if !strings.Contains(log, "transcoder plugin failed; restarting it") || !strings.Contains(log, "transcoding resumed at a source keyframe") {
			return fmt.Errorf("no restart in the log:\n%s", abrGrep(log, "plugin"))
		}
		return nil
	})
	if pids2 := abrPluginPIDs(t, n, "ffmpeg"); len(pids2) != 1 || pids2[0] == pids[0] {
		t.Errorf("plugin processes after the kill: %v (killed %d)", pids2, pids[0])
	}
	src.stop()
	r240.stop()

	// Swap under the live stream: running sessions move at a keyframe.
	abrPut(t, n.HTTP+"/rest/v2/plugins/active", `{"name":"nvenc"}`, 409) // no GPU here: refused, nothing changes
	r480 := abrWatch(base + vs[1].uri)
	swappedAt := time.Now()
	abrPut(t, n.HTTP+"/rest/v2/plugins/active", `{"name":"soft"}`, 200)
	eventually(t, 20*time.Second, "the session moved to the soft plugin", func() error {
		if !strings.Contains(n.log.String(), `switched transcoder plugin at a source keyframe" `) {
			return fmt.Errorf("no switch in the log")
		}
		if len(abrPluginPIDs(t, n, "soft")) != 1 || len(abrPluginPIDs(t, n, "ffmpeg")) != 0 {
			return fmt.Errorf("processes: soft %v, ffmpeg %v", abrPluginPIDs(t, n, "soft"), abrPluginPIDs(t, n, "ffmpeg"))
		}
		if k := r480.segmentsSince(swappedAt.Add(3 * time.Second)); k < 2 {
			return fmt.Errorf("%d new 480p segments since the swap", k)
		}
		return nil
	})
	r480.stop()
	var list struct {
		Active  string `json:"active"`
		Plugins []struct {
			Name   string `json:"name"`
			SHA256 string `json:"sha256"`
		} `json:"plugins"`
	}
	getJSON(t, n.HTTP+"/rest/v2/plugins", &list)
	if list.Active != "soft" || len(list.Plugins) != 4 || len(list.Plugins[0].SHA256) != 64 {
		t.Errorf("GET /rest/v2/plugins = %+v", list)
	}
	var probe struct {
		OK     bool   `json:"ok"`
		Reason string `json:"reason"`
	}
	getJSON(t, n.HTTP+"/rest/v2/plugins/qsv/probe", &probe)
	if probe.OK || !strings.Contains(probe.Reason, "QuickSync") {
		t.Errorf("qsv probe over REST = %+v", probe)
	}
}

// TestABREdge: an edge lists an origin's renditions (found in the
// registry) and pulls each like any stream.
func TestABREdge(t *testing.T) {
	dir := abrPluginDir(t)
	c := newCluster(t)
	cfg := c.config() + fmt.Sprintf("transcoder:\n  plugin: ffmpeg\n  plugin_dir: %q\nabr:\n  LiveApp:\n    - {height: 360, video_bitrate: 500000, audio_bitrate: 64000}\n", dir)
	origin := startNode(t, "abr-origin", nodeOpts{host: "127.0.0.2", config: cfg, args: []string{"--node-id", "abr-origin", "--role", "origin"}})
	edge := startNode(t, "abr-edge", nodeOpts{host: "127.0.0.3", config: c.config(), args: []string{"--node-id", "abr-edge", "--role", "edge"}})
	publish(t, origin.RTMP+"/LiveApp/abre")
	vs := abrWaitVariants(t, edge.HTTP+"/LiveApp/streams/abre_adaptive.m3u8", 2, 60*time.Second)
	if vs[0].height != 720 || vs[1].height != 360 {
		t.Fatalf("edge variants %+v, want 720p and 360p", vs)
	}
	got := ffprobeStreams(t, edge.HTTP+"/LiveApp/streams/abre_adaptive.m3u8")
	if !slices.Contains(got, "h264 640x360") || !slices.Contains(got, "h264 1280x720") {
		t.Fatalf("ffprobe on the edge found %v", got)
	}
	if !strings.Contains(edge.log.String(), "stream=LiveApp/abre_360p proto=relay") {
		t.Errorf("the edge did not pull the rendition:\n%s", abrGrep(edge.log.String(), "pull"))
	}
}

// abrPluginDir installs the plugins built by make plugins (beside
// COLONY_BIN) into a directory of the test's with colony plugins install,
// plus a copy of ffmpeg's named soft (a second working plugin to swap to).
func abrPluginDir(t *testing.T) string {
	t.Helper()
	built := filepath.Dir(colonyBin(t))
	dir := t.TempDir()
	for _, name := range []string{"ffmpeg", "nvenc", "qsv"} {
		p := filepath.Join(built, pluginPrefix+name)
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s: %v (run make plugins)", p, err)
		}
		abrColonyOK(t, "plugins", "--plugin-dir", dir, "install", p)
	}
	soft := filepath.Join(t.TempDir(), pluginPrefix+"soft")
	b, err := os.ReadFile(filepath.Join(built, pluginPrefix+"ffmpeg"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(soft, b, 0o755); err != nil {
		t.Fatal(err)
	}
	out := abrColonyOK(t, "plugins", "--plugin-dir", dir, "install", soft)
	sum, _ := fileSHA256(soft)
	if !strings.Contains(out, "sha256 "+sum) || !strings.Contains(out, filepath.Join(dir, pluginPrefix+"soft")) {
		t.Fatalf("install printed %q, want the path and sha256 %s", out, sum)
	}
	return dir
}

// abrPluginsCLI checks colony plugins list, probe and remove.
func abrPluginsCLI(t *testing.T, dir string) {
	t.Helper()
	out := abrColonyOK(t, "plugins", "--plugin-dir", dir, "list")
	for _, name := range []string{"ffmpeg", "soft", "nvenc", "qsv"} {
		sum, _ := fileSHA256(filepath.Join(dir, pluginPrefix+name))
		line := abrGrep(out, name+" ")
		if !strings.Contains(line, filepath.Join(dir, pluginPrefix+name)) || !strings.Contains(line, sum) {
			t.Errorf("plugins list line for %s = %q, want its path and sha256", name, line)
		}
	}
	if !regexp.MustCompile(`(?m)^ffmpeg .* ok \(libx264`).MatchString(out) || !regexp.MustCompile(`(?m)^nvenc .* unavailable \(h264_nvenc\): no usable NVIDIA GPU`).MatchString(out) {
		t.Errorf("plugins list probe results:\n%s", out)
	}
	for name, reason := range map[string]string{"nvenc": "NVIDIA", "qsv": "QuickSync"} {
		stdout, stderr, code := abrColony(t, "plugins", "--plugin-dir", dir, "probe", name)
		if code == 0 || !strings.Contains(stderr, "plugin "+name+" cannot work here") || !strings.Contains(stderr, reason) {
			t.Errorf("probe %s: exit %d, stdout %q, stderr %q; want non-zero and the reason", name, code, stdout, stderr)
		}
	}
	if stdout, stderr, code := abrColony(t, "plugins", "--plugin-dir", dir, "probe", "ffmpeg"); code != 0 || !strings.Contains(stdout, "works here") {
		t.Errorf("probe ffmpeg: exit %d: %s %s", code, stdout, stderr)
	}
	if _, stderr, code := abrColony(t, "plugins", "--plugin-dir", dir, "probe", "nope"); code == 0 || !strings.Contains(stderr, "unknown transcoder plugin") {
		t.Errorf("probe of a missing plugin: exit %d: %s", code, stderr)
	}
	// remove, then install back.
	abrColonyOK(t, "plugins", "--plugin-dir", dir, "remove", "qsv")
	if _, err := os.Stat(filepath.Join(dir, pluginPrefix+"qsv")); !os.IsNotExist(err) {
		t.Fatalf("qsv still there after remove: %v", err)
	}
	if _, _, code := abrColony(t, "plugins", "--plugin-dir", dir, "remove", "qsv"); code == 0 {
		t.Error("removing a missing plugin succeeded")
	}
	abrColonyOK(t, "plugins", "--plugin-dir", dir, "install", filepath.Join(filepath.Dir(colonyBin(t)), pluginPrefix+"qsv"))
}

// abrColony runs colony and returns its output and exit code.
func abrColony(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, colonyBin(t), args...)
	cmd.Dir = t.TempDir() // no colony.yaml there
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if err != nil {
		code = -1
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
	}
	return stdout.String(), stderr.String(), code
}

func abrColonyOK(t *testing.T, args ...string) string {
	t.Helper()
	stdout, stderr, code := abrColony(t, args...)
	if code != 0 {
		t.Fatalf("colony %v: exit %d\n%s%s", args, code, stdout, stderr)
	}
	return stdout
}

// abrGrep returns the lines of s that contain sub.
func abrGrep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// abrPut sends a JSON PUT and checks the status.
func abrPut(t *testing.T, url, body string, want int) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("PUT %s %s: %d %s, want %d", url, body, resp.StatusCode, b, want)
	}
}

// abrVariant is one variant of an adaptive playlist.
type abrVariant struct {
	uri       string
	height    int
	bandwidth int
	codecs    []string
}

// abrWaitVariants waits until the adaptive playlist at url lists want variants.
func abrWaitVariants(t *testing.T, url string, want int, timeout time.Duration) []abrVariant {
	t.Helper()
	var vs []abrVariant
	eventually(t, timeout, "adaptive playlist with "+strconv.Itoa(want)+" variants", func() error {
		code, _, body := httpGet(t, url)
		if code != 200 {
			return fmt.Errorf("HTTP %d", code)
		}
		var mv playlist.Multivariant
		if err := mv.Unmarshal([]byte(body)); err != nil {
			return fmt.Errorf("%w:\n%s", err, body)
		}
		vs = vs[:0]
		for _, v := range mv.Variants {
			_, h, _ := strings.Cut(v.Resolution, "x")
			height, _ := strconv.Atoi(h)
			vs = append(vs, abrVariant{uri: v.URI, height: height, bandwidth: v.Bandwidth, codecs: v.Codecs})
		}
		if len(vs) != want {
			return fmt.Errorf("%d variants:\n%s", len(vs), body)
		}
		return nil
	})
	return vs
}

// abrSegments returns the complete segments (not gaps) of a media playlist.
func abrSegments(t *testing.T, url string) []*playlist.MediaSegment {
	t.Helper()
	code, _, body := httpGet(t, url)
	if code != 200 {
		return nil
	}
	var m playlist.Media
	if err := m.Unmarshal([]byte(body)); err != nil {
		t.Fatalf("media playlist %s: %v\n%s", url, err, body)
	}
	var out []*playlist.MediaSegment
	for _, s := range m.Segments {
		if !s.Gap {
			out = append(out, s)
		}
	}
	return out
}

// abrVideoBitrate measures the video bitrate of a media playlist from the
// video samples of its segments (audio rides in the same fMP4 segments),
// once they cover at least span.
func abrVideoBitrate(t *testing.T, base, uri string, span time.Duration) int {
	t.Helper()
	var segs []*playlist.MediaSegment
	eventually(t, 30*time.Second, uri+" segments", func() error {
		segs = abrSegments(t, base+uri)
		var d time.Duration
		for _, s := range segs[min(1, len(segs)):] { // the first may be short
			d += s.Duration
		}
		if d < span {
			return fmt.Errorf("%v of segments", d)
		}
		return nil
	})
	_, _, media := httpGet(t, base+uri)
	var pl playlist.Media
	if err := pl.Unmarshal([]byte(media)); err != nil || pl.Map == nil {
		t.Fatalf("media playlist %s without EXT-X-MAP (%v):\n%s", uri, err, media)
	}
	code, _, body := httpGet(t, base+pl.Map.URI)
	var init fmp4.Init
	if err := init.Unmarshal(strings.NewReader(body)); code != 200 || err != nil {
		t.Fatalf("init %s: %d %v", pl.Map.URI, code, err)
	}
	video := map[int]bool{}
	for _, tr := range init.Tracks {
		video[tr.ID] = tr.Codec.IsVideo()
	}
	var bytes int
	var dur time.Duration
	for _, s := range segs[1:] {
		code, _, body := httpGet(t, base+s.URI)
		var parts fmp4.Parts
		if err := parts.Unmarshal([]byte(body)); code != 200 || err != nil {
			t.Fatalf("segment %s: %d %v", s.URI, code, err)
		}
		for _, p := range parts {
			for _, tr := range p.Tracks {
				for _, smp := range tr.Samples {
					if video[tr.ID] {
						bytes += len(smp.Payload)
					}
				}
			}
		}
		dur += s.Duration
	}
	return int(float64(bytes*8) / dur.Seconds())
}

// abrAlignedKeyframes reads every variant's video for dur at once and
// checks that their keyframes, where their reads overlap, have the same
// PTS (within 1 ms) and that there are at least three of them.
func abrAlignedKeyframes(t *testing.T, base string, vs []abrVariant, dur time.Duration) {
	t.Helper()
	type read struct {
		keys       []float64
		first, end float64
	}
	reads := make([]read, len(vs))
	var wg sync.WaitGroup
	for i, v := range vs {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), dur+30*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error", "-select_streams", "v:0", "-read_intervals",
				fmt.Sprintf("%%+%d", int(dur.Seconds())), "-show_entries", "packet=pts_time,flags", "-of", "csv=p=0", base+v.uri).Output()
			if err != nil {
				t.Errorf("ffprobe %s: %v", v.uri, err)
				return
			}
			r := read{first: math.Inf(1), end: math.Inf(-1)}
			for _, l := range strings.Fields(string(out)) {
				f := strings.Split(l, ",")
				pts, err := strconv.ParseFloat(f[0], 64)
				if err != nil || len(f) < 2 {
					continue
				}
				r.first, r.end = min(r.first, pts), max(r.end, pts)
				if strings.HasPrefix(f[1], "K") {
					r.keys = append(r.keys, pts)
				}
			}
			reads[i] = r
		})
	}
	wg.Wait()
	lo, hi := math.Inf(-1), math.Inf(1)
	for _, r := range reads {
		lo, hi = max(lo, r.first), min(hi, r.end)
	}
	var ref []float64
	for i, r := range reads {
		var in []float64
		for _, k := range r.keys {
			if k >= lo && k <= hi {
				in = append(in, k)
			}
		}
		if i == 0 {
			ref = in
			if len(ref) < 3 {
				t.Fatalf("only %d source keyframes in the common window [%.3f, %.3f]: %+v", len(ref), lo, hi, reads)
			}
			continue
		}
		ok := len(in) == len(ref)
		for j := 0; ok && j < len(in); j++ {
			ok = math.Abs(in[j]-ref[j]) < 0.001
		}
		if !ok {
			t.Errorf("%dp keyframes %v, the source's %v: not aligned", vs[i].height, in, ref)
		}
	}
}

// abrWatcher polls a media playlist and records when new segments appear.
type abrWatcher struct {
	mu     sync.Mutex
	times  []time.Time // when each new last segment was first seen
	cancel context.CancelFunc
	done   chan struct{}
}

func abrWatch(url string) *abrWatcher {
	ctx, cancel := context.WithCancel(context.Background())
	w := &abrWatcher{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		last := ""
		for ctx.Err() == nil {
			if seg := lastSegment(ctx, url); seg != "" && seg != last {
				last = seg
				w.mu.Lock()
				w.times = append(w.times, time.Now())
				w.mu.Unlock()
			}
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return w
}

// lastSegment returns the last segment URI of a media playlist ("" on error).
func lastSegment(ctx context.Context, url string) string {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return ""
	}
	last := ""
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			last = l
		}
	}
	return last
}

func (w *abrWatcher) stop() {
	w.cancel()
	<-w.done
}

// segmentsSince counts the segments that appeared after t.
func (w *abrWatcher) segmentsSince(t time.Time) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, x := range w.times {
		if x.After(t) {
			n++
		}
	}
	return n
}

// maxGap is the longest wait between two new segments, and since the last.
func (w *abrWatcher) maxGap() time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	var gap time.Duration
	for i := 1; i < len(w.times); i++ {
		gap = max(gap, w.times[i].Sub(w.times[i-1]))
	}
	if len(w.times) > 0 {
		gap = max(gap, time.Since(w.times[len(w.times)-1]))
	}
	return gap
}

// abrPluginPIDs returns the colony-transcoder-<name> processes whose
// parent is n's colony process, from /proc.
func abrPluginPIDs(t *testing.T, n *colonyNode, name string) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		argv0, _, _ := strings.Cut(string(cmdline), "\x00")
		if filepath.Base(argv0) != pluginPrefix+name {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so cut at the last ')'.
		f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(n.cmd.Process.Pid) && f[0] != "Z" {
			pids = append(pids, pid)
		}
	}
	return pids
}
