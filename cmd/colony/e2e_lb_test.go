//go:build e2e

package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	pion "github.com/pion/webrtc/v4"
)

// The balancer suite puts a three-node cluster (one origin, two edges)
// behind Debian's real nginx and HAProxy, rendered by `colony lb render`
// and kept up to date by `colony lb watch`, and publishes and plays
// through the balancer's ports only.

func TestLBNginx(t *testing.T)   { lbScenario(t, "nginx") }
func TestLBHAProxy(t *testing.T) { lbScenario(t, "haproxy") }

// lbScenario: RTMP in and HLS, WHEP and WebSocket out through the
// balancer of kind; an edge killed, an edge joining; failed renders.
func lbScenario(t *testing.T, kind string) {
	c := newCluster(t)
	origin := c.node("origin1", "origin", "127.0.0.2")
	edge1 := c.node("edge1", "edge", "127.0.0.3")
	c.node("edge2", "edge", "127.0.0.4")
	lb := newBalancer(t, kind, filepath.Join(origin.dataDir, "colony.yaml"))

	conf := lb.render(t)
	for _, id := range []string{"origin1", "edge1", "edge2"} {
		if !strings.Contains(conf, "#   "+id+"  role") {
			t.Fatalf("the render does not list %s:\n%s", id, conf)
		}
	}
	lb.start(t)
	watchLog := startLBWatch(t, lb)

	// RTMP through the balancer lands on the origin.
	publish(t, lb.RTMP+"/LiveApp/lb1")
	waitStatus(t, origin, "LiveApp", "lb1", "broadcasting", 15*time.Second)
	var b struct {
		Status     string `json:"status"`
		OriginNode string `json:"originNode"`
	}
	getJSON(t, lb.HTTP+"/LiveApp/rest/v2/broadcasts/lb1", &b)
	if b.Status != "broadcasting" || (b.OriginNode != "" && b.OriginNode != "origin1") || metric(t, origin, "colony_rtmp_connections") != 1 {
		t.Fatalf("through the balancer: broadcast %+v, origin RTMP connections %v", b, metric(t, origin, "colony_rtmp_connections"))
	}

	// HLS through the balancer: served by edges, each viewer by one edge
	// (sticky), the viewers spread over both.
	hlsURL := lb.HTTP + "/LiveApp/streams/lb1.m3u8"
	var wg sync.WaitGroup
	viewers := make([]*lbClient, 6)
	errs := make([]error, len(viewers))
	for i := range viewers {
		viewers[i] = newLBClient()
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, errs[i] = viewers[i].playHLSFor(hlsURL, 4*time.Second)
		}(i)
		time.Sleep(50 * time.Millisecond)
	}
	wg.Wait()
	var all []string
	for i, v := range viewers {
		if errs[i] != nil {
			t.Fatalf("viewer %d (served by %v): %v", i, v.servedBy(), errs[i])
		}
		by := v.servedBy()
		if len(by) != 1 || !strings.HasPrefix(by[0], "edge") {
			t.Fatalf("viewer %d was served by %v, want one edge", i, by)
		}
		all = append(all, by...)
	}
	if got := strings.Join(distinct(all), ","); got != "edge1,edge2" {
		t.Fatalf("viewers were served by %s, want both edges", got)
	}
	t.Logf("%s: %d HLS viewers through the balancer, each on one edge: %v", kind, len(viewers), all)
	// A real player (ffprobe keeps the sticky cookie) finds the media.
	if got := strings.Join(ffprobeStreams(t, hlsURL), ","); !strings.Contains(got, "h264 1280x720") || !strings.Contains(got, "aac") {
		t.Fatalf("ffprobe through the balancer found %q", got)
	}
	lb.checkHTTPS(t, "/LiveApp/streams/lb1.m3u8")

	lbWebRTC(t, lb)

	// An edge dies: new viewers go to the live edge only, at once.
	edge1.kill()
	killed := time.Now()
	eventually(t, 5*time.Second, "new viewers served by edge2 only", func() error {
		by, err := freshViewers(hlsURL, 6)
		if err != nil {
			return err
		}
		if got := strings.Join(distinct(by), ","); got != "edge2" {
			return fmt.Errorf("served by %s", got)
		}
		return nil
	})
	if by, err := freshViewers(hlsURL, 10); err != nil || strings.Join(distinct(by), ",") != "edge2" {
		t.Fatalf("after edge1 died, new viewers were served by %v (%v)", distinct(by), err)
	}
	t.Logf("%s: edge1 killed; new viewers on edge2 only after %v", kind, time.Since(killed).Round(time.Millisecond))
	// A viewer that was on edge1 carries on from edge2.
	var stuck *lbClient
	for _, v := range viewers {
		if v.servedBy()[0] == "edge1" {
			stuck = v
		}
	}
	if code, who, _, err := stuck.get(hlsURL); err != nil || code != 200 || who != "edge2" {
		t.Fatalf("edge1's viewer after edge1 died: %d from %q (%v)", code, who, err)
	}

	// A new edge joins: lb watch adds it and viewers reach it.
	c.node("edge3", "edge", "127.0.0.5")
	joined := time.Now()
	eventually(t, 15*time.Second, "a new viewer served by edge3", func() error {
		by, err := freshViewers(hlsURL, 4)
		if err != nil {
			return err
		}
		for _, who := range by {
			if who == "edge3" {
				return nil
			}
		}
		return fmt.Errorf("served by %v", distinct(by))
	})
	t.Logf("%s: edge3 joined; a viewer reached it after %v", kind, time.Since(joined).Round(time.Millisecond))
	if !strings.Contains(watchLog.String(), "replaced and reloaded") {
		t.Fatalf("lb watch did not say it reloaded:\n%s", watchLog.String())
	}

	lbKeepsGoodConfig(t, c, lb)
}

// lbWebRTC checks the WebRTC signalling routes through the balancer: WHIP
// and WebSocket ?target=origin to the origin, WHEP and other WebSockets
// to edges, and a WHEP session's offer and DELETE on one edge.
func lbWebRTC(t *testing.T, lb *balancerProc) {
	t.Helper()
	whip := newLBClient()
	resp, err := whip.http.Post(lb.HTTP+"/LiveApp/whip/lbx", "application/sdp", strings.NewReader("v=0\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode == 404 && strings.Contains(string(body), "page not found") {
		t.Logf("%s: WebRTC is not wired into colony run (POST /{app}/whip answers 404 page not found): HLS only", lb.kind)
		return
	}
	if who := resp.Header.Get("X-Served-By"); who != "origin1" {
		t.Fatalf("WHIP went to %q (status %d), want origin1", who, resp.StatusCode)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	wsBase := "ws" + strings.TrimPrefix(lb.HTTP, "http") + "/LiveApp/websocket"
	for query, want := range map[string]string{"?target=origin": "origin1", "?target=edge": "edge", "": "edge"} {
		conn, resp, err := websocket.Dial(ctx, wsBase+query, nil)
		if err != nil {
			t.Fatalf("WebSocket %s through %s: %v", query, lb.kind, err)
		}
		if who := resp.Header.Get("X-Served-By"); !strings.HasPrefix(who, want) {
			t.Fatalf("WebSocket %q went to %q, want %s", query, who, want)
		}
		if err := conn.Write(ctx, websocket.MessageText, []byte(`{"command":"ping"}`)); err != nil {
			t.Fatal(err)
		}
		if _, msg, err := conn.Read(ctx); err != nil || !strings.Contains(string(msg), "pong") {
			t.Fatalf("WebSocket ping through %s: %q, %v", lb.kind, msg, err)
		}
		conn.Close(websocket.StatusNormalClosure, "")
	}
	// A WHEP session's signalling goes through the balancer to one edge:
	// the offer (POST) and the end of the session (DELETE of its Location)
	// stay on that edge thanks to the sticky cookie. Media flows between
	// the viewer and the edge directly (UDP), not through the balancer.
	viewer := newLBClient()
	resp, err = viewer.http.Post(lb.HTTP+"/LiveApp/whep/lb1", "application/sdp", strings.NewReader(whepOffer(t)))
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusCreated || !strings.Contains(string(answer), "m=video") || loc == "" {
		t.Fatalf("WHEP through %s: %d %q (Location %q)", lb.kind, resp.StatusCode, answer, loc)
	}
	if !strings.HasPrefix(loc, "http") {
		loc = lb.HTTP + loc
	}
	req, _ := http.NewRequest(http.MethodDelete, loc, nil)
	resp, err = viewer.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("WHEP DELETE %s through %s: %d", loc, lb.kind, resp.StatusCode)
	}
	if by := viewer.servedBy(); len(by) != 1 || !strings.HasPrefix(by[0], "edge") {
		t.Fatalf("WHEP offer and DELETE were served by %v, want one edge", by)
	}
	t.Logf("%s: WHIP and WebSocket?target=origin reached origin1, WebSockets and WHEP (offer and DELETE) edge %s", lb.kind, viewer.servedBy()[0])
}

// whepOffer is a viewer's offer (receive H.264 video and Opus audio) with
// its loopback candidates.
func whepOffer(t *testing.T) string {
	t.Helper()
	se := pion.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() && ip.To4() != nil })
	se.SetNetworkTypes([]pion.NetworkType{pion.NetworkTypeUDP4})
	me := &pion.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	pc, err := pion.NewAPI(pion.WithMediaEngine(me), pion.WithSettingEngine(se)).NewPeerConnection(pion.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	for _, k := range []pion.RTPCodecType{pion.RTPCodecTypeVideo, pion.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, pion.RTPTransceiverInit{Direction: pion.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := pion.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	select {
	case <-gathered:
	case <-time.After(5 * time.Second):
		t.Fatal("ICE gathering of the WHEP offer timed out")
	}
	return pc.LocalDescription().SDP
}

// lbKeepsGoodConfig: a render from an empty registry, or one the balancer
// refuses, leaves the config in place and says why.
func lbKeepsGoodConfig(t *testing.T, c *cluster, lb *balancerProc) {
	t.Helper()
	good, err := os.ReadFile(lb.conf)
	if err != nil {
		t.Fatal(err)
	}
	emptyCfg := filepath.Join(t.TempDir(), "empty.yaml")
	empty := fmt.Sprintf("mode: cluster\nmongo:\n  uri: %q\n  database: %s\ncluster_secret: %q\n", c.dbURI, c.db.Database(), testClusterSecret)
	if err := os.WriteFile(emptyCfg, []byte(empty), 0o600); err != nil {
		t.Fatal(err)
	}
	flags := append([]string(nil), lb.flags...)
	for i := range flags {
		if flags[i] == "--config" {
			flags[i+1] = emptyCfg
		}
	}
	out, errOut, err := colonyCmd(t, append([]string{"lb", "render"}, flags...)...)
	if err == nil || out != "" || !strings.Contains(errOut, "no live nodes") {
		t.Fatalf("render from an empty registry: %v, stdout %d bytes, stderr %q", err, len(out), errOut)
	}
	out, errOut, err = colonyCmd(t, append([]string{"lb", "watch", "--once", "--out", lb.conf}, flags...)...)
	if err == nil || !strings.Contains(errOut, "no live nodes") || !strings.Contains(errOut, "keeping "+lb.conf) {
		t.Fatalf("watch --once on an empty registry: %v\n%s%s", err, out, errOut)
	}
	if lb.kind == "nginx" {
		// A render nginx -t refuses: a stream module that is not there.
		out, errOut, err = colonyCmd(t, append([]string{"lb", "watch", "--once", "--out", lb.conf,
			"--stream-module", "/nonexistent/ngx_stream_module.so"}, lb.flags...)...)
		if err == nil || !strings.Contains(errOut, "refused") || !strings.Contains(errOut, "/nonexistent/ngx_stream_module.so") {
			t.Fatalf("watch --once with a render nginx -t refuses: %v\n%s%s", err, out, errOut)
		}
	}
	if now, _ := os.ReadFile(lb.conf); string(now) != string(good) {
		t.Fatal("the balancer config changed after a failed render")
	}
	entries, _ := os.ReadDir(lb.prefix)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".tmp") {
			t.Fatalf("temporary file left in the prefix: %s", e.Name())
		}
	}
	// The balancer still serves.
	if code, _, _, err := newLBClient().get(lb.HTTP + "/rest/v2/liveness"); err != nil || code != 200 {
		t.Fatalf("liveness through %s after the failed renders: %d, %v", lb.kind, code, err)
	}
}
