package webrtc

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/ports"
	pion "github.com/pion/webrtc/v4"
)

// wsClient drives the signalling like @antmedia/webrtc_adaptor does.
type wsClient struct {
	t *testing.T
	c *websocket.Conn

	mu      sync.Mutex
	pc      *pion.PeerConnection
	remote  bool
	pending []pion.ICECandidateInit
}

type wsMsg map[string]any

func (m wsMsg) str(k string) string { s, _ := m[k].(string); return s }

func dialWS(t *testing.T, hs *httptest.Server, app string) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(hs.URL, "http")+"/"+app+"/websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadLimit(1 << 20)
	t.Cleanup(func() { _ = c.CloseNow() })
	return &wsClient{t: t, c: c}
}

func (w *wsClient) sendRaw(s string) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.c.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
		w.t.Fatal(err)
	}
}

func (w *wsClient) send(m wsMsg) {
	w.t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		w.t.Fatal(err)
	}
	w.sendRaw(string(b))
}

// attach makes w trickle pc's candidates and apply the server's.
func (w *wsClient) attach(pc *pion.PeerConnection, streamID string) {
	w.mu.Lock()
	w.pc = pc
	w.mu.Unlock()
	pc.OnICECandidate(func(c *pion.ICECandidate) {
		if c == nil {
			return
		}
		init := c.ToJSON()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		b, _ := json.Marshal(wsMsg{"command": "takeCandidate", "streamId": streamID, "label": init.SDPMLineIndex, "id": init.SDPMid, "candidate": init.Candidate})
		_ = w.c.Write(ctx, websocket.MessageText, b)
	})
}

// remoteSet applies the candidates that came before the remote description.
func (w *wsClient) remoteSet() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.remote = true
	for _, c := range w.pending {
		if err := w.pc.AddICECandidate(c); err != nil {
			w.t.Error(err)
		}
	}
	w.pending = nil
}

// await reads messages until one matches command (and definition, if
// given), applying the server's candidates on the way.
func (w *wsClient) await(command, definition string) wsMsg {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		_, b, err := w.c.Read(ctx)
		if err != nil {
			w.t.Fatalf("waiting for %s %s: %v", command, definition, err)
		}
		var m wsMsg
		if err := json.Unmarshal(b, &m); err != nil {
			w.t.Fatalf("server sent invalid JSON %q", b)
		}
		if m.str("command") == "takeCandidate" && command != "takeCandidate" {
			w.takeCandidate(m)
			continue
		}
		if m.str("command") == command && (definition == "" || m.str("definition") == definition) {
			return m
		}
		if m.str("command") == "error" {
			w.t.Fatalf("waiting for %s %s: got error %v", command, definition, m)
		}
	}
}

func (w *wsClient) takeCandidate(m wsMsg) {
	label := uint16(m["label"].(float64))
	mid := m.str("id")
	c := pion.ICECandidateInit{Candidate: m.str("candidate"), SDPMLineIndex: &label, SDPMid: &mid}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.pc == nil || !w.remote {
		w.pending = append(w.pending, c)
		return
	}
	if err := w.pc.AddICECandidate(c); err != nil {
		w.t.Error(err)
	}
}

func TestWebSocketCommands(t *testing.T) {
	ingest := fakeIngest{publish: func(context.Context, ports.PublishRequest) (ports.Publication, error) {
		return nil, ports.ErrStreamBusy
	}}
	cfg := Config{ICEServers: []ICEServer{{URLs: []string{"stun:stun.example.org:3478"}}}}
	_, hs := newTestServer(t, cfg, ingest, fakePlayback{play: noPlay})
	w := dialWS(t, hs, "LiveApp")

	tests := []struct {
		name, send, command, definition string
	}{
		{"ping", `{"command":"ping"}`, "pong", ""},
		{"malformed JSON", `{bad`, "error", defMalformedMessage},
		{"no command", `{"streamId":"s"}`, "error", defMalformedMessage},
		{"unknown command", `{"command":"fly","streamId":"s"}`, "error", defUnknownCommand},
		{"invalid stream name", `{"command":"publish","streamId":"bad/id"}`, "error", defInvalidStreamName},
		{"no stream name", `{"command":"play"}`, "error", defNoStreamName},
		{"busy stream", `{"command":"publish","streamId":"s1"}`, "error", defStreamIDInUse},
		{"unknown stream", `{"command":"play","streamId":"s1"}`, "error", defNoStreamExist},
		{"stream info of unknown stream", `{"command":"getStreamInfo","streamId":"s1"}`, "error", defNoStreamExist},
		{"description without session", `{"command":"takeConfiguration","streamId":"s1","type":"offer","sdp":"v=0"}`, "error", defNoSession},
		{"ice servers", `{"command":"getIceServerConfig"}`, "iceServerConfig", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w.sendRaw(tt.send)
			m := w.await(tt.command, "")
			if m.str("definition") != tt.definition {
				t.Fatalf("got %v, want definition %q", m, tt.definition)
			}
			if tt.command == "iceServerConfig" && m.str("stunServerUri") != "stun:stun.example.org:3478" {
				t.Fatalf("ice config %v", m)
			}
		})
	}

	// A message past the size bound closes the connection.
	w.sendRaw(`{"command":"ping","pad":"` + strings.Repeat("x", 70<<10) + `"}`)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, _, err := w.c.Read(ctx); websocket.CloseStatus(err) != websocket.StatusMessageTooBig {
		t.Fatalf("oversized message: read err %v, want status 1009", err)
	}
}

func TestWebSocketPublish(t *testing.T) {
	fx := loadH264Fixture(t, 2)
	pubs := make(chan *fakePub, 2)
	ingest := fakeIngest{publish: func(_ context.Context, req ports.PublishRequest) (ports.Publication, error) {
		p := newFakePub(req)
		pubs <- p
		return p, nil
	}}
	_, hs := newTestServer(t, Config{}, ingest, fakePlayback{play: noPlay})
	w := dialWS(t, hs, "LiveApp")

	w.send(wsMsg{"command": "publish", "streamId": "cam1", "token": "tk", "video": true, "audio": false})
	w.await("start", "")
	pub := <-pubs
	if pub.req.Query.Get("token") != "tk" || pub.req.Key != testKey {
		t.Fatalf("publish request %+v", pub.req)
	}
	// A second publish of the same stream on this connection is refused.
	w.send(wsMsg{"command": "publish", "streamId": "cam1"})
	w.await("error", defAlreadyPublishing)

	c := newPublisherClient(t, pion.MimeTypeH264, false)
	w.attach(c.pc, "cam1")
	offer, err := c.pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	w.send(wsMsg{"command": "takeConfiguration", "streamId": "cam1", "type": "offer", "sdp": offer.SDP})
	ans := w.await("takeConfiguration", "")
	if ans.str("type") != "answer" || ans.str("streamId") != "cam1" {
		t.Fatalf("answer message %v", ans)
	}
	if err := c.pc.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeAnswer, SDP: ans.str("sdp")}); err != nil {
		t.Fatal(err)
	}
	w.remoteSet()
	w.await("notification", defPublishStarted)
	waitConnected(t, c.pc)
	c.sendFiles(t, fx.path, "")
	select {
	case tracks := <-pub.started:
		if len(tracks) != 1 || tracks[0].Codec != media.H264 || tracks[0].Width != 320 {
			t.Fatalf("tracks %+v", tracks)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("stream not started")
	}

	w.send(wsMsg{"command": "stop", "streamId": "cam1"})
	w.await("notification", defPublishFinished)
	select {
	case err := <-pub.ended:
		if err != nil {
			t.Fatalf("End(%v), want End(nil)", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("publication not ended")
	}
}

func TestWebSocketPlay(t *testing.T) {
	fx := loadH264Fixture(t, 1)
	st := media.NewStream([]media.Track{{Codec: media.H264, ClockRate: 90000, SPS: fx.sps, PPS: fx.pps, Width: 320, Height: 240}}, media.StreamConfig{})
	defer st.Close()
	for i := range fx.aus {
		st.Write(fx.unit(i))
	}
	play := fakePlayback{play: func(_ context.Context, req ports.PlayRequest) (*media.Stream, error) {
		if req.Key != testKey {
			return nil, ports.ErrStreamNotFound
		}
		return st, nil
	}}
	s, hs := newTestServer(t, Config{}, fakeIngest{publish: noPublish}, play)
	w := dialWS(t, hs, "LiveApp")

	w.send(wsMsg{"command": "getStreamInfo", "streamId": "cam1"})
	info := w.await("streamInformation", "")
	rend, _ := info["streamInfo"].([]any)
	if len(rend) != 1 || rend[0].(map[string]any)["streamHeight"] != 240.0 || rend[0].(map[string]any)["videoCodec"] != "H264" {
		t.Fatalf("stream information %v", info)
	}

	v := newViewerClient(t)
	w.attach(v.pc, "cam1")
	w.send(wsMsg{"command": "play", "streamId": "cam1", "token": "", "room": "", "trackList": []string{}})
	off := w.await("takeConfiguration", "")
	if off.str("type") != "offer" {
		t.Fatalf("offer message %v", off)
	}
	if _, ok := off["idMapping"].(map[string]any); !ok {
		t.Fatal("offer without idMapping (the SDK reads it in onTrack)")
	}
	if err := v.pc.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeOffer, SDP: off.str("sdp")}); err != nil {
		t.Fatal(err)
	}
	answer, err := v.pc.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.pc.SetLocalDescription(answer); err != nil {
		t.Fatal(err)
	}
	w.remoteSet()
	w.send(wsMsg{"command": "takeConfiguration", "streamId": "cam1", "type": "answer", "sdp": answer.SDP})
	w.await("notification", defPlayStarted)
	w.send(wsMsg{"command": "forceStreamQuality", "streamId": "cam1", "streamHeight": 240})
	waitFor(t, "frames", 10*time.Second, func() bool {
		samples, _, _ := v.received()
		return len(samples) > 0
	})
	samples, _, _ := v.received()
	if types := nalTypes(samples[0]); !containsInt(types, 5) {
		t.Fatalf("first frame NAL types %v, want an IDR", types)
	}
	if n := s.Viewers(testKey); n != 1 {
		t.Fatalf("Viewers = %d", n)
	}
	w.send(wsMsg{"command": "play", "streamId": "cam1"})
	w.await("error", defAlreadyPlaying)
	w.send(wsMsg{"command": "stop", "streamId": "cam1"})
	w.await("notification", defPlayFinished)
	if n := s.Viewers(testKey); n != 0 {
		t.Fatalf("Viewers after stop = %d", n)
	}

	// Closing the WebSocket ends its sessions.
	v2 := newViewerClient(t)
	w.attach(v2.pc, "cam1")
	w.send(wsMsg{"command": "play", "streamId": "cam1"})
	w.await("takeConfiguration", "")
	waitFor(t, "the second viewer", 5*time.Second, func() bool { return s.Viewers(testKey) == 1 })
	_ = w.c.Close(websocket.StatusNormalClosure, "")
	waitFor(t, "the sessions of the closed socket to end", 5*time.Second, func() bool { return s.Viewers(testKey) == 0 })
}
