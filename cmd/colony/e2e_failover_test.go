//go:build e2e

package main

import (
	"bufio"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/colony-live/colony/internal/syncbuf"
)

// frameWatch plays an HLS url with a real player (ffmpeg's HLS demuxer,
// decoding the video) and records when its decoded frame count grows.
type frameWatch struct {
	mu     sync.Mutex
	frames []time.Time
	err    error
}

func watchFrames(t *testing.T, url string) *frameWatch {
	t.Helper()
	w := &frameWatch{}
	cmd := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-nostats", "-i", url, "-map", "0:v:0",
		"-f", "null", "-", "-progress", "pipe:1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncbuf.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		last := 0
		for sc.Scan() {
			v, ok := strings.CutPrefix(sc.Text(), "frame=")
			if !ok {
				continue
			}
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			now := time.Now()
			w.mu.Lock()
			for ; last < n; last++ {
				w.frames = append(w.frames, now)
			}
			w.mu.Unlock()
		}
		err := cmd.Wait()
		w.mu.Lock()
		w.err = fmt.Errorf("player exited: %v: %s", err, stderr.String())
		w.mu.Unlock()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	return w
}

// framesAfter counts frames received after since.
func (w *frameWatch) framesAfter(since time.Time) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, f := range w.frames {
		if f.After(since) {
			n++
		}
	}
	return n
}

func (w *frameWatch) firstAfter(since time.Time) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, f := range w.frames {
		if f.After(since) {
			return f
		}
	}
	return time.Time{}
}

// TestClusterFailover: the origin is SIGKILLed mid-stream; within 25 s it
// is dead and its stream terminated_unexpectedly; the publisher republishes
// to a second origin and the edge's viewer gets video again without being
// restarted.
func TestClusterFailover(t *testing.T) {
	c := newCluster(t)
	origin1 := c.node("origin1", "origin", "127.0.0.2")
	origin2 := c.node("origin2", "origin", "127.0.0.5")
	edge := c.node("edge1", "edge", "127.0.0.3")

	pub := publish(t, origin1.RTMP+"/LiveApp/fo")
	waitStatus(t, edge, "LiveApp", "fo", "broadcasting", 15*time.Second)

	// While origin1 lives, the same stream id is refused on origin2.
	dup := publish(t, origin2.RTMP+"/LiveApp/fo")
	select {
	case <-dup.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("origin2 accepted a second publisher of a stream live on origin1")
	}

	w := watchFrames(t, edge.HTTP+"/LiveApp/streams/fo.m3u8")
	eventually(t, 15*time.Second, "edge viewer gets frames", func() error {
		if w.framesAfter(time.Time{}) < 30 {
			return errStatus(0)
		}
		return nil
	})

	killed := time.Now()
	origin1.kill()
	pub.stop()
	waitStatus(t, edge, "LiveApp", "fo", "terminated_unexpectedly", 25*time.Second)
	if st := clusterNodes(t, edge)["origin1"].Status; st != "dead" {
		t.Fatalf("origin1 status %q after SIGKILL, want dead", st)
	}
	detected := time.Since(killed)

	// The publisher comes back on origin2 (retrying until the dead
	// origin's claim is stale).
	var pub2 *publisher
	eventually(t, 30*time.Second, "republish on origin2", func() error {
		if pub2 != nil && pub2.running() && broadcastStatus(t, edge, "LiveApp", "fo") == "broadcasting" {
			return nil
		}
		if pub2 == nil || !pub2.running() {
			pub2 = publish(t, origin2.RTMP+"/LiveApp/fo")
		}
		return errStatus(0)
	})
	republished := time.Now()
	eventually(t, 40*time.Second, "edge viewer gets video from origin2", func() error {
		w.mu.Lock()
		err := w.err
		w.mu.Unlock()
		if err != nil {
			t.Fatalf("the viewer stopped: %v", err)
		}
		if w.framesAfter(republished) < 30 {
			return errStatus(0)
		}
		return nil
	})
	t.Logf("failover: origin dead and stream terminated_unexpectedly after %v; republished after %v; viewer saw video again %v after the kill (%v after the republish)",
		detected.Round(time.Millisecond), republished.Sub(killed).Round(time.Millisecond),
		w.firstAfter(republished).Sub(killed).Round(time.Millisecond), w.firstAfter(republished).Sub(republished).Round(time.Millisecond))
}

// TestClusterMongoDown: with the registry gone, live streams keep playing on
// origin and edge and a new publish is refused clearly; when it returns,
// everything recovers without a restart.
func TestClusterMongoDown(t *testing.T) {
	c := newCluster(t)
	origin := c.node("origin1", "origin", "127.0.0.2")
	edge := c.node("edge1", "edge", "127.0.0.3")
	publish(t, origin.RTMP+"/LiveApp/md")
	waitStatus(t, edge, "LiveApp", "md", "broadcasting", 15*time.Second)
	w := watchFrames(t, edge.HTTP+"/LiveApp/streams/md.m3u8")
	eventually(t, 15*time.Second, "edge viewer gets frames", func() error {
		if w.framesAfter(time.Time{}) < 30 {
			return errStatus(0)
		}
		return nil
	})

	c.db.Stop(t)
	down := time.Now()
	// A new publish is refused while the registry is down.
	refused := publish(t, origin.RTMP+"/LiveApp/md2")
	select {
	case <-refused.exited:
	case <-time.After(20 * time.Second):
		t.Fatal("a publish was accepted while the registry was down")
	}
	t.Logf("publish while the registry is down: %s", strings.TrimSpace(refused.log.String()))
	if !strings.Contains(refused.log.String(), "unavailable") {
		t.Errorf("the refused publisher was not told why: %s", refused.log.String())
	}
	time.Sleep(6 * time.Second) // over a heartbeat with the registry down
	if n := w.framesAfter(down.Add(3 * time.Second)); n < 60 {
		t.Fatalf("edge viewer got %d frames while the registry was down", n)
	}
	got := strings.Join(ffprobeStreams(t, edge.HTTP+"/LiveApp/streams/md.m3u8"), ",")
	if !strings.Contains(got, "h264") {
		t.Fatalf("edge playback while the registry is down: %q", got)
	}

	c.db.Start(t)
	publish(t, origin.RTMP+"/LiveApp/md3")
	waitStatus(t, edge, "LiveApp", "md3", "broadcasting", 30*time.Second)
	got = strings.Join(ffprobeStreams(t, edge.HTTP+"/LiveApp/streams/md3.m3u8"), ",")
	if !strings.Contains(got, "h264 1280x720") {
		t.Fatalf("new stream after the registry returned: %q", got)
	}
	if st := clusterNodes(t, edge)["origin1"].Status; st != "alive" {
		t.Fatalf("origin1 %q after the registry returned", st)
	}
}
