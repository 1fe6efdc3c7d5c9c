package rest

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/core/node"
	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
)

var testForwardSecret = []byte("cluster-secret-0123456789abcdefghij")

// pair is an origin and an edge API over one store: alpha and beta are
// live on the origin (o1), which has alpha's 480p rendition.
type pair struct {
	origin, edge *env
}

func newPair(t *testing.T, edit func(id string, c *Config)) *pair {
	t.Helper()
	alpha := stream.Key{App: "LiveApp", ID: "alpha"}
	src := media.NewStream([]media.Track{
		{Codec: media.H264, ClockRate: 90000, Width: 1280, Height: 720},
		{Codec: media.AAC, ClockRate: 44100, SampleRate: 44100, Channels: 2},
	}, media.StreamConfig{})
	r480 := media.NewStream([]media.Track{{Codec: media.H264, ClockRate: 90000, Width: 854, Height: 480}}, media.StreamConfig{})
	t.Cleanup(src.Close)
	t.Cleanup(r480.Close)
	streams := fakeStreams{
		streams:    map[stream.Key]*media.Stream{alpha: src},
		renditions: map[stream.Key][]ports.Rendition{alpha: {{Name: "480p", Rung: stream.Rendition{Height: 480, VideoBitrate: 800_000, AudioBitrate: 64_000}, Stream: r480}}},
	}
	o := newEnv(t, func(c *Config) {
		c.Streams = streams
		c.Forward.Secret = testForwardSecret
		if edit != nil {
			edit("o1", c)
		}
	})
	o.node.id = "o1"
	p := &pair{origin: o}
	p.edge = newEnvOver(t, o.store, func(c *Config) {
		c.Forward.Secret = testForwardSecret
		if edit != nil {
			edit("e1", c)
		}
	})
	p.edge.node.id = "e1"
	p.edge.node.live = nil
	ctx := context.Background()
	for _, n := range []node.Node{
		{ID: "o1", Role: node.RoleOrigin, HTTPAddr: strings.TrimPrefix(o.srv.URL, "http://"), LastSeen: now},
		{ID: "e1", Role: node.RoleEdge, HTTPAddr: strings.TrimPrefix(p.edge.srv.URL, "http://"), LastSeen: now},
	} {
		if err := o.store.Register(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []stream.ID{"alpha", "beta"} {
		if _, err := o.store.UpdateBroadcast(ctx, stream.Key{App: "LiveApp", ID: id}, false, now, func(b *stream.Broadcast) error {
			b.OriginNode, b.OriginAddr, b.VideoCodec, b.AudioCodec = "o1", "10.0.0.1", "H264", "AAC"
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// get returns the status, the X-Colony-Forwarded-To header and the body.
func (e *env) get(t *testing.T, method, path string, headers ...string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get(ForwardedToHeader), string(b)
}

// TestForwardToOrigin: an edge answers calls about a stream live on the
// origin exactly as the origin does, renditions included.
func TestForwardToOrigin(t *testing.T) {
	p := newPair(t, nil)
	for _, path := range []string{
		"/LiveApp/rest/v2/broadcasts/alpha/stream-info",
		"/LiveApp/rest/v2/broadcasts/beta/stream-info",
	} {
		oc, oh, ob := p.origin.get(t, "GET", path)
		ec, eh, eb := p.edge.get(t, "GET", path)
		if oc != 200 || ec != 200 || ob != eb {
			t.Fatalf("GET %s: origin %d %s, edge %d %s", path, oc, ob, ec, eb)
		}
		if oh != "" || eh != "o1" {
			t.Errorf("GET %s: %s on the origin %q, on the edge %q; want \"\" and o1", path, ForwardedToHeader, oh, eh)
		}
	}
	infos := streamInfos(t, p.edge, "/LiveApp/rest/v2/broadcasts/alpha/stream-info")
	if len(infos) != 2 || infos[1].StreamID != "alpha_480p" || infos[1].VideoWidth != 854 || infos[1].VideoHeight != 480 ||
		infos[1].VideoBitrate != 800_000 || infos[1].AudioBitrate != 64_000 || infos[1].VideoCodec != "H264" || infos[0].AudioChannels != 2 {
		t.Fatalf("stream-info on the edge = %+v", infos)
	}
	// A stream not live is answered where asked, without the origin.
	if code, fwd, body := p.edge.get(t, "GET", "/LiveApp/rest/v2/broadcasts/gamma/stream-info"); code != 200 || fwd != "" || strings.TrimSpace(body) != "[]" {
		t.Errorf("gamma on the edge = %d %q %s", code, fwd, body)
	}
	// Unknown ids are 404 on the edge too, without forwarding.
	if code, fwd, body := p.edge.get(t, "GET", "/LiveApp/rest/v2/broadcasts/nosuch/stream-info"); code != 404 || fwd != "" || !strings.Contains(body, `"success":false`) {
		t.Errorf("nosuch on the edge = %d %q %s", code, fwd, body)
	}
	// stop on the edge disconnects the origin's publisher.
	alpha := stream.Key{App: "LiveApp", ID: "alpha"}
	if code, fwd, body := p.edge.get(t, "POST", "/LiveApp/rest/v2/broadcasts/alpha/stop"); code != 200 || fwd != "o1" || !strings.Contains(body, `"success":true`) {
		t.Fatalf("stop on the edge = %d %q %s", code, fwd, body)
	}
	if !p.origin.node.wasStopped(alpha) {
		t.Fatal("stop on the edge did not reach the origin's publisher")
	}
	// beta is live on o1 but o1 publishes nothing: 409 from the origin, not a loop.
	if code, fwd, body := p.edge.get(t, "POST", "/LiveApp/rest/v2/broadcasts/beta/stop"); code != 409 || fwd != "o1" {
		t.Fatalf("stop of beta on the edge = %d %q %s", code, fwd, body)
	}
	// delete on the edge: the origin stops and deletes.
	if code, fwd, body := p.edge.get(t, "DELETE", "/LiveApp/rest/v2/broadcasts/alpha"); code != 200 || fwd != "o1" {
		t.Fatalf("delete on the edge = %d %q %s", code, fwd, body)
	}
	if _, err := p.origin.store.Broadcast(context.Background(), alpha); err == nil {
		t.Fatal("alpha's record survived the delete")
	}
}

// TestForwardGuards: a forwarded call is never forwarded again, only
// tokens signed with the cluster secret for forwarding are let in, and a
// node without the secret answers everything itself.
func TestForwardGuards(t *testing.T) {
	p := newPair(t, func(_ string, c *Config) { c.Access = AccessConfig{AllowedCIDRs: []string{}} }) // no address is let in
	const path = "/LiveApp/rest/v2/broadcasts/alpha/stream-info"
	tok, err := signForward(testForwardSecret, "x", now)
	if err != nil {
		t.Fatal(err)
	}
	// The hop guard: the edge answers a forwarded call itself (from the record).
	code, fwd, body := p.edge.get(t, "GET", path, ForwardHeader+": "+tok)
	if code != 200 || fwd != "" || strings.Contains(body, "alpha_480p") || !strings.Contains(body, `"name":"source"`) {
		t.Fatalf("forwarded call on the edge = %d %q %s", code, fwd, body)
	}
	relayLike, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"aud": "colony-relay", "exp": now.Add(time.Minute).Unix()}).SignedString(testForwardSecret)
	expired, _ := signForward(testForwardSecret, "x", now.Add(-time.Hour))
	otherKey, _ := signForward([]byte(strings.Repeat("k", 32)), "x", now)
	for name, bad := range map[string]string{"relay audience": relayLike, "expired": expired, "other key": otherKey, "garbage": "abc"} {
		if code, _, body := p.origin.get(t, "GET", path, ForwardHeader+": "+bad); code != 403 || !strings.Contains(body, `"success":false`) {
			t.Errorf("%s forwarding token = %d %s, want 403", name, code, body)
		}
	}
	// The client itself is still judged on the node it called.
	if code, _, _ := p.edge.get(t, "GET", path); code != 403 {
		t.Errorf("a client from a forbidden address got %d through the edge", code)
	}
	// Without the secret (standalone), nothing is forwarded nor let in by the header.
	solo := newEnv(t, nil)
	if code, _, _ := solo.get(t, "GET", path, ForwardHeader+": "+tok); code != 403 {
		t.Errorf("standalone node let a forwarded call in: %d", code)
	}
}

// TestForwardErrors: an origin that is dead, unreachable or too slow gives
// an Ant Media result, quickly.
func TestForwardErrors(t *testing.T) {
	p := newPair(t, func(_ string, c *Config) { c.Forward.Timeout = 300 * time.Millisecond })
	const path = "/LiveApp/rest/v2/broadcasts/alpha/stream-info"
	ctx := context.Background()
	register := func(addr string, seen time.Time) {
		t.Helper()
		if err := p.origin.store.Register(ctx, node.Node{ID: "o1", Role: node.RoleOrigin, HTTPAddr: addr, LastSeen: seen}); err != nil {
			t.Fatal(err)
		}
	}
	// Dead.
	register(strings.TrimPrefix(p.origin.srv.URL, "http://"), now.Add(-time.Hour))
	if code, _, body := p.edge.get(t, "GET", path); code != 503 || !strings.Contains(body, "not alive") || !strings.Contains(body, `"errorId":503`) {
		t.Errorf("dead origin = %d %s", code, body)
	}
	// Unreachable: a closed port.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	register(closed, now)
	if code, _, body := p.edge.get(t, "GET", path); code != 502 || !strings.Contains(body, "did not answer") || !strings.Contains(body, `"success":false`) {
		t.Errorf("unreachable origin = %d %s", code, body)
	}
	// Too slow.
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(release) })
	register(strings.TrimPrefix(slow.URL, "http://"), now)
	start := time.Now()
	code, _, body := p.edge.get(t, "GET", path)
	if code != 502 || time.Since(start) > 3*time.Second {
		t.Errorf("slow origin = %d after %v: %s", code, time.Since(start), body)
	}
	// The store down: 503 as for any call.
	p.origin.store.SetDown(true)
	if code, _, _ := p.edge.get(t, "GET", path); code != 503 {
		t.Errorf("store down = %d", code)
	}
}
