//go:build e2e

package main

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestStandaloneRTMPToHLS: ffmpeg publishes over RTMP; ffprobe and
// gohlslib's client play HLS with the right codecs, size and continuous
// timestamps; LL-HLS parts are present; REST shows the broadcast lifecycle.
func TestStandaloneRTMPToHLS(t *testing.T) {
	n := startNode(t, "standalone", nodeOpts{})
	pub := publish(t, n.RTMP+"/LiveApp/e2e1")
	waitStatus(t, n, "LiveApp", "e2e1", "broadcasting", 15*time.Second)

	url := n.HTTP + "/LiveApp/streams/e2e1.m3u8"
	eventually(t, 15*time.Second, "playlist", func() error {
		code, _, _ := httpGet(t, url)
		if code != 200 {
			return errStatus(code)
		}
		return nil
	})
	code, hdr, _ := httpGet(t, url)
	if code != 200 || hdr.Get("X-Served-By") == "" {
		t.Fatalf("playlist: %d, X-Served-By %q", code, hdr.Get("X-Served-By"))
	}

	got := strings.Join(ffprobeStreams(t, url), ",")
	if !strings.Contains(got, "h264 1280x720") || !strings.Contains(got, "aac") {
		t.Fatalf("ffprobe found %q, want h264 1280x720 and aac", got)
	}
	dts := ffprobeVideoDTS(t, url, 4*time.Second)
	assertContinuous(t, "ffprobe video DTS", dts, 60, 0.1)

	media := mediaPlaylist(t, n.HTTP+"/LiveApp/streams/", url)
	for _, tag := range []string{"#EXT-X-PART:", "#EXT-X-PART-INF:PART-TARGET=", "PART-HOLD-BACK=", "#EXT-X-PRELOAD-HINT"} {
		if !strings.Contains(media, tag) {
			t.Fatalf("LL-HLS media playlist lacks %s:\n%s", tag, media)
		}
	}

	play := playHLS(t, url, 5*time.Second)
	if strings.Join(play.codecs, ",") != "h264,aac" {
		t.Fatalf("gohlslib client tracks %v", play.codecs)
	}
	if !play.keyframe {
		t.Fatal("gohlslib client received no IDR")
	}
	assertIncreasing(t, "gohlslib video DTS", play.videoDTS, 60, 90000/10)
	assertIncreasing(t, "gohlslib audio PTS", play.audioPTS, 50, 48000/5)
	// The players' requests were answered on the HTTP lane; the REST
	// calls' connections were handed to net/http.
	if lane, handed := metric(t, n, "colony_http_lane_requests_total"), metric(t, n, "colony_http_lane_handoffs_total"); lane < 10 || handed < 1 {
		t.Fatalf("lane answered %v requests and handed over %v connections; want players on the lane, REST handed over", lane, handed)
	}
	// The segments' memory outside the Go heap is counted: at least the
	// segments the players just fetched are mapped.
	if mapped, expired := metric(t, n, "colony_hls_segment_memory_bytes"), metric(t, n, "colony_hls_segment_memory_expired_bytes"); mapped < 100_000 || expired < 0 || expired > mapped {
		t.Fatalf("segment memory: %v bytes mapped, %v expired", mapped, expired)
	}

	// The REST list shows it broadcasting with its size, then finished.
	var list []struct {
		StreamID string `json:"streamId"`
		Status   string `json:"status"`
		Width    int    `json:"width"`
		Height   int    `json:"height"`
		Type     string `json:"publishType"`
	}
	getJSON(t, n.HTTP+"/LiveApp/rest/v2/broadcasts/list/0/10", &list)
	if len(list) != 1 || list[0].StreamID != "e2e1" || list[0].Status != "broadcasting" || list[0].Width != 1280 || list[0].Height != 720 || list[0].Type != "RTMP" {
		t.Fatalf("broadcast list = %+v", list)
	}
	pub.stop()
	waitStatus(t, n, "LiveApp", "e2e1", "finished", 10*time.Second)
	eventually(t, 10*time.Second, "playlist gone after the stream ended", func() error {
		if code, _, _ := httpGet(t, url); code != 404 {
			return errStatus(code)
		}
		return nil
	})
}

// TestStandaloneRefusals: a second publisher is refused while the first
// keeps going; bad ids, unknown apps and traversal paths are refused.
func TestStandaloneRefusals(t *testing.T) {
	n := startNode(t, "standalone", nodeOpts{})
	first := publish(t, n.RTMP+"/LiveApp/dup")
	waitStatus(t, n, "LiveApp", "dup", "broadcasting", 15*time.Second)

	refused := func(url string) string {
		t.Helper()
		cmd := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-i", clipPath(t), "-t", "3", "-c", "copy", "-f", "flv", url)
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Fatalf("publish to %s succeeded, want refused", url)
		}
		return string(out)
	}
	refused(n.RTMP + "/LiveApp/dup")
	refused(n.RTMP + "/LiveApp/bad..id")
	refused(n.RTMP + "/NoSuchApp/s1")
	if !first.running() {
		t.Fatalf("first publisher stopped: %v\n%s", first.err, first.log.String())
	}
	if st := broadcastStatus(t, n, "LiveApp", "dup"); st != "broadcasting" {
		t.Fatalf("first stream status %q after refusals", st)
	}
	// The first stream still plays.
	got := strings.Join(ffprobeStreams(t, n.HTTP+"/LiveApp/streams/dup.m3u8"), ",")
	if !strings.Contains(got, "h264") {
		t.Fatalf("first stream after refusals: ffprobe found %q", got)
	}

	for _, path := range []string{
		"/LiveApp/streams/nosuch.m3u8",
		"/NoSuchApp/streams/dup.m3u8",
		"/LiveApp/streams/..%2f..%2f..%2fetc%2fpasswd",
		"/LiveApp/streams/%2e%2e/%2e%2e/etc/passwd",
		"/LiveApp/streams/../../../../etc/passwd",
		"/LiveApp/streams/bad..id.m3u8",
		"/LiveApp/streams/dup_nosuchfile.mp4",
	} {
		code, _, body := httpGet(t, n.HTTP+path)
		if code != 404 && code != 400 {
			t.Errorf("GET %s = %d, want 404", path, code)
		}
		if strings.Contains(body, "root:") {
			t.Errorf("GET %s leaked a file", path)
		}
	}
	if code, _, _ := httpGet(t, n.HTTP+"/LiveApp/rest/v2/broadcasts/nosuch"); code != 404 {
		t.Errorf("unknown broadcast = %d", code)
	}
	if code, _, _ := httpGet(t, n.HTTP+"/LiveApp/rest/v2/broadcasts/list/-1/10"); code != 400 {
		t.Errorf("negative offset = %d", code)
	}
}

// TestStandaloneRestartAndShutdown: a graceful stop finishes the broadcast;
// a crash leaves no broadcast stuck "broadcasting" after restart.
func TestStandaloneRestartAndShutdown(t *testing.T) {
	n := startNode(t, "standalone", nodeOpts{})
	publish(t, n.RTMP+"/LiveApp/crash")
	waitStatus(t, n, "LiveApp", "crash", "broadcasting", 15*time.Second)
	n.kill()
	n.start()
	waitStatus(t, n, "LiveApp", "crash", "terminated_unexpectedly", 15*time.Second)

	p2 := publish(t, n.RTMP+"/LiveApp/graceful")
	waitStatus(t, n, "LiveApp", "graceful", "broadcasting", 15*time.Second)
	err, took := n.stop()
	if err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	t.Logf("graceful shutdown took %v", took)
	<-p2.exited // the server closed the publisher
	n.start()
	if st := broadcastStatus(t, n, "LiveApp", "graceful"); st != "finished" {
		t.Fatalf("after graceful shutdown the broadcast is %q, want finished", st)
	}
}

// TestStandaloneMPEGTS: the plain MPEG-TS variant for old players, with
// the HTTP lane off (http_lane: false): net/http answers everything.
func TestStandaloneMPEGTS(t *testing.T) {
	n := startNode(t, "standalone-ts", nodeOpts{config: "http_lane: false\nhls:\n  variant: mpegts\n"})
	publish(t, n.RTMP+"/LiveApp/ts1")
	waitStatus(t, n, "LiveApp", "ts1", "broadcasting", 15*time.Second)
	url := n.HTTP + "/LiveApp/streams/ts1.m3u8"
	got := strings.Join(ffprobeStreams(t, url), ",")
	if !strings.Contains(got, "h264 1280x720") || !strings.Contains(got, "aac") {
		t.Fatalf("ffprobe found %q", got)
	}
	media := mediaPlaylist(t, n.HTTP+"/LiveApp/streams/", url)
	if !strings.Contains(media, ".ts") || strings.Contains(media, "#EXT-X-PART:") {
		t.Fatalf("mpegts playlist:\n%s", media)
	}
	if _, _, body := httpGet(t, n.HTTP+"/metrics"); !strings.Contains(body, "colony_hls_") || strings.Contains(body, "colony_http_lane_") {
		t.Fatal("http_lane: false, yet the lane's metrics are there")
	}
}

type errStatus int

func (e errStatus) Error() string { return "HTTP " + strconv.Itoa(int(e)) }
