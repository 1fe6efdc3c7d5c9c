//go:build e2e

package main

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/colony-live/colony/adapters/mongo/mongotest"
	"github.com/colony-live/colony/adapters/relay"
	"github.com/colony-live/colony/core/stream"
)

const testClusterSecret = "e2e-cluster-secret-0123456789abcdef"

// cluster is a FerretDB registry and the colony nodes that use it.
type cluster struct {
	t     *testing.T
	db    *mongotest.Server
	dbURI string
	dbNam string
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	db := mongotest.New(t)
	return &cluster{t: t, db: db, dbURI: db.URI(), dbNam: db.Database()}
}

func (c *cluster) config() string {
	return fmt.Sprintf("mode: cluster\nmongo:\n  uri: %q\n  database: %s\ncluster_secret: %q\n", c.dbURI, c.dbNam, testClusterSecret)
}

// node starts a cluster node with the given id and role on host (127.0.0.x).
func (c *cluster) node(id, role, host string, extra ...string) *colonyNode {
	c.t.Helper()
	return startNode(c.t, id, nodeOpts{host: host, config: c.config(), args: append([]string{"--node-id", id, "--role", role}, extra...)})
}

// metric reads one Prometheus value from n's /metrics.
func metric(t *testing.T, n *colonyNode, name string) float64 {
	t.Helper()
	resp, err := http.Get(n.HTTP + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && f[0] == name {
			v, _ := strconv.ParseFloat(f[1], 64)
			return v
		}
	}
	t.Fatalf("metric %s not found on %s", name, n.name)
	return 0
}

type clusterNodeJSON struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Role   string `json:"role"`
}

func clusterNodes(t *testing.T, n *colonyNode) map[string]clusterNodeJSON {
	t.Helper()
	var list []clusterNodeJSON
	getJSON(t, n.HTTP+"/rest/v2/cluster/nodes/0/50", &list)
	m := map[string]clusterNodeJSON{}
	for _, x := range list {
		m[x.ID] = x
	}
	return m
}

// TestClusterEdgePull: a stream published to the origin plays from both
// edges; 20 viewers on one edge cause exactly one relay pull.
func TestClusterEdgePull(t *testing.T) {
	c := newCluster(t)
	origin := c.node("origin1", "origin", "127.0.0.2")
	edge1 := c.node("edge1", "edge", "127.0.0.3")
	edge2 := c.node("edge2", "edge", "127.0.0.4")

	// A node registers itself once it is up (its HTTP port answers a
	// moment before, and a registry that is down does not stop it), so
	// the list is read until every node is in it.
	var nodes map[string]clusterNodeJSON
	deadline := time.Now().Add(10 * time.Second)
	for {
		nodes = clusterNodes(t, edge1)
		all := true
		for id, role := range map[string]string{"origin1": "origin", "edge1": "edge", "edge2": "edge"} {
			all = all && nodes[id].Status == "alive" && nodes[id].Role == role
		}
		if all {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster nodes after 10 s = %+v", nodes)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var count struct{ Number int }
	getJSON(t, origin.HTTP+"/rest/v2/cluster/node-count", &count)
	if count.Number != 3 {
		t.Fatalf("node-count = %d", count.Number)
	}

	publish(t, origin.RTMP+"/LiveApp/cl1")
	waitStatus(t, edge1, "LiveApp", "cl1", "broadcasting", 15*time.Second)

	for _, e := range []*colonyNode{edge1, edge2} {
		url := e.HTTP + "/LiveApp/streams/cl1.m3u8"
		got := strings.Join(ffprobeStreams(t, url), ",")
		if !strings.Contains(got, "h264 1280x720") || !strings.Contains(got, "aac") {
			t.Fatalf("%s: ffprobe found %q", e.name, got)
		}
		assertContinuous(t, e.name+" video DTS", ffprobeVideoDTS(t, url, 3*time.Second), 45, 0.1)
		_, hdr, _ := httpGet(t, url)
		if hdr.Get("X-Served-By") != e.name {
			t.Fatalf("X-Served-By = %q, want %s", hdr.Get("X-Served-By"), e.name)
		}
	}
	// The origin serves no viewers; edges refuse publishers.
	if code, _, _ := httpGet(t, origin.HTTP+"/LiveApp/streams/cl1.m3u8"); code != 404 {
		t.Errorf("origin served a viewer: %d", code)
	}
	if out, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-i", clipPath(t), "-t", "2", "-c", "copy", "-f", "flv", edge1.RTMP+"/LiveApp/x").CombinedOutput(); err == nil {
		t.Errorf("edge accepted a publisher: %s", out)
	}

	// 20 concurrent viewers on edge2's fresh stream... edge2 already pulls
	// cl1; use a second stream so that the viewers race for the first pull.
	publish(t, origin.RTMP+"/LiveApp/cl2")
	waitStatus(t, edge1, "LiveApp", "cl2", "broadcasting", 15*time.Second)
	before := metric(t, origin, "colony_relay_sessions_total")
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs <- hlsViewer(fmt.Sprintf("%s/LiveApp/streams/cl2.m3u8?sessionId=v%d", edge2.HTTP, i), 6*time.Second)
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := metric(t, origin, "colony_relay_sessions_total") - before; got != 1 {
		t.Fatalf("20 viewers on one edge caused %v relay sessions, want 1", got)
	}
	if got := metric(t, origin, "colony_relay_sessions_active"); got != 3 { // edge1:cl1, edge2:cl1, edge2:cl2
		t.Fatalf("active relay sessions = %v, want 3", got)
	}

	// The CLI shows the same registry.
	out, err := exec.Command(colonyBin(t), "cluster", "nodes", "--config", filepath.Join(edge1.dataDir, "colony.yaml")).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "origin1") || !strings.Contains(string(out), "edge2") || strings.Count(string(out), "alive") != 3 {
		t.Fatalf("colony cluster nodes: %v\n%s", err, out)
	}
	out, err = exec.Command(colonyBin(t), "cluster", "streams", "--config", filepath.Join(edge1.dataDir, "colony.yaml")).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "LiveApp/cl1") || !strings.Contains(string(out), "origin1") {
		t.Fatalf("colony cluster streams: %v\n%s", err, out)
	}
}

// hlsViewer behaves like a simple player for dur: the playlist, then the
// media playlist and every new segment it lists.
func hlsViewer(url string, dur time.Duration) error {
	base := url[:strings.LastIndex(url, "/")+1]
	get := func(u string) (string, error) {
		resp, err := http.Get(u)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		var b strings.Builder
		if _, err := bufio.NewReader(resp.Body).WriteTo(&b); err != nil {
			return "", err
		}
		if resp.StatusCode != 200 {
			return "", fmt.Errorf("GET %s: %d", u, resp.StatusCode)
		}
		return b.String(), nil
	}
	main, err := get(url)
	if err != nil {
		return err
	}
	var media string
	for _, l := range strings.Split(main, "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			media = base + strings.TrimSpace(l)
			break
		}
	}
	if media == "" {
		return fmt.Errorf("no media playlist in %q", main)
	}
	seen := map[string]bool{}
	segments := 0
	for end := time.Now().Add(dur); time.Now().Before(end); time.Sleep(500 * time.Millisecond) {
		pl, err := get(media)
		if err != nil {
			return err
		}
		gap := false
		for _, l := range strings.Split(pl, "\n") {
			if strings.HasPrefix(l, "#EXT-X-GAP") {
				gap = true // a placeholder segment players skip
			}
			if l == "" || strings.HasPrefix(l, "#") {
				continue
			}
			if gap || seen[l] {
				gap = false
				continue
			}
			seen[l] = true
			if _, err := get(base + l); err != nil {
				return err
			}
			segments++
		}
	}
	if segments == 0 {
		return fmt.Errorf("%s: no segment fetched", url)
	}
	return nil
}

// TestClusterRelayRefusesBadTokens: the relay port refuses a missing,
// forged or expired token.
func TestClusterRelayRefusesBadTokens(t *testing.T) {
	c := newCluster(t)
	origin := c.node("origin1", "origin", "127.0.0.2")
	publish(t, origin.RTMP+"/LiveApp/tok")
	waitStatus(t, origin, "LiveApp", "tok", "broadcasting", 15*time.Second)
	key, _ := stream.ParseKey("LiveApp", "tok")
	url := "http://" + origin.RelayAdr + "/relay/v1/LiveApp/tok"
	forged, _ := relay.Sign([]byte("another-secret-0123456789abcdef!"), key, "intruder", time.Now(), time.Minute)
	expired, _ := relay.Sign([]byte(testClusterSecret), key, "edge", time.Now().Add(-time.Hour), time.Minute)
	valid, _ := relay.Sign([]byte(testClusterSecret), key, "edge", time.Now(), time.Minute)
	for name, tok := range map[string]string{"none": "", "forged": forged, "expired": expired, "garbage": "abc.def.ghi"} {
		req, _ := http.NewRequest("GET", url, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s token: %d, want 401", name, resp.StatusCode)
		}
	}
	eventually(t, 10*time.Second, "valid token accepted", func() error {
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Authorization", "Bearer "+valid)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return errStatus(resp.StatusCode)
		}
		return nil
	})
}

// TestClusterModeCommand: `colony mode cluster` checks the database before
// touching the config.
func TestClusterModeCommand(t *testing.T) {
	c := newCluster(t)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "colony.yaml")
	orig := "mode: standalone\nhttp_addr: \":5999\"\n"
	if err := os.WriteFile(cfgPath, []byte(orig), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := colonyBin(t)
	out, err := exec.Command(bin, "mode", "cluster", "--config", cfgPath, "--timeout", "1s", "127.0.0.1:1", "admin", "s3cret-pw").CombinedOutput()
	if err == nil {
		t.Fatalf("mode cluster with an unreachable host succeeded: %s", out)
	}
	if strings.Contains(string(out), "s3cret-pw") || !strings.Contains(string(out), "left unchanged") {
		t.Fatalf("unclear or leaky error: %s", out)
	}
	if b, _ := os.ReadFile(cfgPath); string(b) != orig {
		t.Fatalf("config changed after a failed mode switch:\n%s", b)
	}
	out, err = exec.Command(bin, "mode", "cluster", "--config", cfgPath, "--database", c.dbNam, c.db.Addr()).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "standalone -> cluster") {
		t.Fatalf("mode cluster: %v\n%s", err, out)
	}
	cfg, err := loadConfig(cfgPath)
	if err != nil || cfg.Mode != "cluster" || cfg.HTTPAddr != ":5999" || len(cfg.ClusterSecret) < 32 || !strings.Contains(cfg.Mongo.URI, c.db.Addr()) {
		t.Fatalf("config after mode cluster: %+v, %v", cfg, err)
	}
	// A second node gets the same cluster secret from the registry.
	cfgPath2 := filepath.Join(dir, "node2.yaml")
	if out, err := exec.Command(bin, "mode", "cluster", "--config", cfgPath2, "--database", c.dbNam, "mongodb://"+c.db.Addr()+"/").CombinedOutput(); err != nil {
		t.Fatalf("mode cluster (node 2): %v\n%s", err, out)
	}
	cfg2, _ := loadConfig(cfgPath2)
	if cfg2.ClusterSecret != cfg.ClusterSecret {
		t.Fatal("nodes got different cluster secrets")
	}
	// The Ant Media style wrapper does the same.
	wrapper := filepath.Join(repoRoot(t), "scripts", "change_server_mode.sh")
	cmd := exec.Command("bash", wrapper, "cluster", c.db.Addr())
	cmd.Env = append(os.Environ(), "COLONY_BIN="+bin, "COLONY_CONFIG="+filepath.Join(dir, "node3.yaml"))
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "-> cluster") {
		t.Fatalf("change_server_mode.sh cluster: %v\n%s", err, out)
	}
	out, err = exec.Command(bin, "mode", "standalone", "--config", cfgPath).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "cluster -> standalone") {
		t.Fatalf("mode standalone: %v\n%s", err, out)
	}
	if cfg, _ := loadConfig(cfgPath); cfg.Mode != "standalone" {
		t.Fatalf("mode after switch back: %s", cfg.Mode)
	}
}
