package webrtc

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
	pion "github.com/pion/webrtc/v4"
)

const (
	// wsOutQueue bounds the messages waiting for a slow client; past it the
	// connection is dropped.
	wsOutQueue = 256
	// wsWriteTimeout bounds one message write.
	wsWriteTimeout = 10 * time.Second
	// forceTimeout bounds forceStreamQuality's look-up of the rendition
	// (on an edge, the start of its pull).
	forceTimeout = 10 * time.Second
)

// wsConn is one signalling WebSocket. Its read loop runs the client's
// commands in order; a writer goroutine sends the server's messages.
type wsConn struct {
	srv    *Server
	app    stream.App
	c      *websocket.Conn
	remote string
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	out    chan []byte

	mu       sync.Mutex
	sessions map[stream.ID]*wsSession
}

// wsSession is a publish or play session of a connection.
type wsSession struct {
	pub  *publisher
	play *player
}

func (ws *wsSession) peer() *peer {
	switch {
	case ws.pub != nil:
		return ws.pub.peer
	case ws.play != nil:
		return ws.play.peer
	}
	return nil
}

// handleWebSocket serves Ant Media's signalling: GET /{app}/websocket.
func (s *Server) handleWebSocket(w http.ResponseWriter, r *http.Request) {
	app, err := stream.ParseApp(r.PathValue("app"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	if !s.acquire() {
		http.Error(w, errServerClosed.Error(), http.StatusServiceUnavailable)
		return
	}
	defer s.wg.Done()
	opts := &websocket.AcceptOptions{}
	if s.cfg.AllowOrigin == "*" {
		opts.InsecureSkipVerify = true
	} else if u, err := url.Parse(s.cfg.AllowOrigin); err == nil && u.Host != "" {
		opts.OriginPatterns = []string{u.Host}
	}
	c, err := websocket.Accept(w, r, opts)
	if err != nil {
		s.log.Debug("websocket accept", "err", err)
		return
	}
	c.SetReadLimit(s.cfg.MaxMessageBytes)
	ctx, cancel := context.WithCancel(s.ctx)
	wc := &wsConn{
		srv: s, app: app, c: c, remote: r.RemoteAddr, ctx: ctx, cancel: cancel,
		log: s.log.With("app", string(app), "remote", r.RemoteAddr), out: make(chan []byte, wsOutQueue),
		sessions: map[stream.ID]*wsSession{},
	}
	wc.serve()
}

func (wc *wsConn) serve() {
	defer wc.cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		wc.writeLoop()
	}()
	for {
		typ, data, err := wc.c.Read(wc.ctx)
		if err != nil {
			wc.log.Debug("websocket closed", "err", err)
			break
		}
		if typ != websocket.MessageText {
			wc.send(errorMessage(defMalformedMessage, "", "binary messages are not supported"))
			continue
		}
		wc.handle(data)
	}
	wc.endSessions()
	wc.cancel()
	wg.Wait()
	_ = wc.c.CloseNow()
}

func (wc *wsConn) writeLoop() {
	for {
		select {
		case <-wc.ctx.Done():
			return
		case b := <-wc.out:
			ctx, cancel := context.WithTimeout(wc.ctx, wsWriteTimeout)
			err := wc.c.Write(ctx, websocket.MessageText, b)
			cancel()
			if err != nil {
				wc.cancel()
				return
			}
		}
	}
}

// send queues a message without blocking; a client too slow to take its
// messages is disconnected.
func (wc *wsConn) send(m wsMessage) {
	if wc.ctx.Err() != nil {
		return // the connection is gone
	}
	b, err := json.Marshal(m)
	if err != nil {
		wc.log.Error("encode signalling message", "err", err)
		return
	}
	select {
	case wc.out <- b:
	default:
		wc.log.Warn("signalling client too slow: closing")
		wc.cancel()
	}
}

func (wc *wsConn) handle(data []byte) {
	req, err := decodeRequest(data)
	if err != nil {
		wc.send(errorMessage(defMalformedMessage, "", err.Error()))
		return
	}
	var id stream.ID
	if needsStreamID(req.Command) {
		var def string
		if id, def = checkStreamID(string(req.StreamID)); def != "" {
			wc.send(errorMessage(def, "", ""))
			return
		}
	}
	switch req.Command {
	case cmdPing:
		wc.send(wsMessage{Command: cmdPong})
	case cmdGetIceServerConfig:
		wc.send(iceServerConfig(wc.srv.cfg.ICEServers))
	case cmdPublish:
		wc.publish(id, req)
	case cmdPlay:
		wc.play(id, req)
	case cmdStop:
		if sess := wc.get(id); sess != nil && sess.peer() != nil {
			sess.peer().close(nil)
		}
	case cmdTakeConfiguration:
		wc.takeConfiguration(id, req)
	case cmdTakeCandidate:
		wc.takeCandidate(id, req)
	case cmdGetStreamInfo:
		wc.streamInfo(id, req)
	case cmdForceStreamQuality:
		wc.forceQuality(id, req)
	default:
		cmd := req.Command
		if len(cmd) > 64 {
			cmd = cmd[:64] + "..."
		}
		wc.send(errorMessage(defUnknownCommand, string(id), "unsupported command "+strconvQuote(cmd)))
	}
}

func (wc *wsConn) get(id stream.ID) *wsSession {
	wc.mu.Lock()
	defer wc.mu.Unlock()
	return wc.sessions[id]
}

// reserve adds a session for id, or answers why it cannot.
func (wc *wsConn) reserve(id stream.ID, publish bool) (*wsSession, bool) {
	wc.mu.Lock()
	defer wc.mu.Unlock()
	if old := wc.sessions[id]; old != nil {
		def := defAlreadyPlaying
		if old.pub != nil || (old.play == nil && publish) {
			def = defAlreadyPublishing
		}
		wc.send(errorMessage(def, string(id), ""))
		return nil, false
	}
	if len(wc.sessions) >= wc.srv.cfg.MaxSessionsPerConn {
		wc.send(errorMessage(defTooManySessions, string(id), "too many sessions on this connection"))
		return nil, false
	}
	sess := &wsSession{}
	wc.sessions[id] = sess
	return sess, true
}

func (wc *wsConn) remove(id stream.ID, sess *wsSession) {
	wc.mu.Lock()
	defer wc.mu.Unlock()
	if wc.sessions[id] == sess {
		delete(wc.sessions, id)
	}
}

func (wc *wsConn) hooks(id stream.ID, sess *wsSession, started, finished string) hooks {
	return hooks{
		candidate: func(c pion.ICECandidateInit) {
			wc.send(wsMessage{Command: cmdTakeCandidate, StreamID: string(id), Candidate: c.Candidate, Label: c.SDPMLineIndex, ID: c.SDPMid})
		},
		started: func() { wc.send(notification(started, string(id))) },
		finished: func() {
			wc.remove(id, sess)
			wc.send(notification(finished, string(id)))
		},
	}
}

func tokenQuery(tok lenientString) url.Values {
	q := url.Values{}
	if tok != "" {
		q.Set("token", string(tok))
	}
	return q
}

// publish: the client publishes; the server answers start, then the
// client sends its offer with takeConfiguration.
func (wc *wsConn) publish(id stream.ID, req wsRequest) {
	sess, ok := wc.reserve(id, true)
	if !ok {
		return
	}
	key := stream.Key{App: wc.app, ID: id}
	pub, err := wc.srv.ingest.Publish(wc.ctx, ports.PublishRequest{
		Key: key, PublishType: stream.PublishWebRTC, Query: tokenQuery(req.Token), RemoteAddr: wc.remote,
	})
	if err == nil {
		sess.pub, err = wc.srv.newPublisher(key, pub, wc.remote, wc.hooks(id, sess, defPublishStarted, defPublishFinished))
	}
	if err != nil {
		wc.remove(id, sess)
		wc.send(errorMessage(errorDefinition(err), string(id), err.Error()))
		return
	}
	wc.send(wsMessage{Command: cmdStart, StreamID: string(id)})
}

// play: the server offers, the client answers with takeConfiguration.
func (wc *wsConn) play(id stream.ID, req wsRequest) {
	sess, ok := wc.reserve(id, false)
	if !ok {
		return
	}
	key := stream.Key{App: wc.app, ID: id}
	st, err := wc.srv.play.Play(wc.ctx, ports.PlayRequest{Key: key, Protocol: "webrtc", Query: tokenQuery(req.Token), RemoteAddr: wc.remote})
	if err == nil {
		quality := func(h int) {
			wc.send(wsMessage{Command: cmdNotification, Definition: defResolutionChangeInfo, StreamID: string(id), StreamHeight: h})
		}
		sess.play, err = wc.srv.newPlayer(wc.ctx, key, st, wc.remote, wc.hooks(id, sess, defPlayStarted, defPlayFinished), nil,
			playOpts{query: tokenQuery(req.Token), quality: quality})
	}
	if err != nil {
		wc.remove(id, sess)
		wc.send(errorMessage(errorDefinition(err), string(id), err.Error()))
		return
	}
	offer, err := sess.play.offer(wc.ctx, true)
	if err != nil {
		sess.play.close(err)
		wc.send(errorMessage(errorDefinition(err), string(id), err.Error()))
		return
	}
	mids := map[string]string{}
	for _, t := range sess.play.pc.GetTransceivers() {
		if mid := t.Mid(); mid != "" {
			mids[mid] = string(id)
		}
	}
	wc.send(wsMessage{Command: cmdTakeConfiguration, StreamID: string(id), Type: "offer", SDP: offer, IDMapping: mids})
	sess.play.descriptionSent()
}

func (wc *wsConn) takeConfiguration(id stream.ID, req wsRequest) {
	sess := wc.get(id)
	if sess == nil || sess.peer() == nil {
		wc.send(errorMessage(defNoSession, string(id), "publish or play first"))
		return
	}
	var err error
	switch {
	case sess.pub != nil && req.Type == "offer":
		var info sdpInfo
		if info, err = parseSDP(req.SDP); err == nil {
			var answer string
			if answer, err = sess.pub.answerOffer(wc.ctx, req.SDP, info, true); err == nil {
				wc.send(wsMessage{Command: cmdTakeConfiguration, StreamID: string(id), Type: "answer", SDP: answer})
				sess.pub.descriptionSent()
				return
			}
		}
	case sess.play != nil && req.Type == "answer":
		if err = sess.play.setRemote(pion.SessionDescription{Type: pion.SDPTypeAnswer, SDP: req.SDP}); err == nil {
			return
		}
	default:
		wc.send(errorMessage(defNotSetRemoteDescription, string(id), "unexpected description type "+strconvQuote(req.Type)))
		return
	}
	wc.log.Info("remote description refused", "stream", id, "err", err)
	wc.send(errorMessage(defNotSetRemoteDescription, string(id), err.Error()))
	sess.peer().close(err)
}

func (wc *wsConn) takeCandidate(id stream.ID, req wsRequest) {
	sess := wc.get(id)
	if sess == nil || sess.peer() == nil {
		return // Ant Media ignores candidates of unknown sessions too
	}
	c := pion.ICECandidateInit{Candidate: req.Candidate}
	if req.ID != "" {
		mid := string(req.ID)
		c.SDPMid = &mid
	}
	if req.Label.Set {
		l := uint16(req.Label.V)
		c.SDPMLineIndex = &l
	}
	if err := sess.peer().addRemoteCandidate(c); err != nil {
		wc.log.Debug("remote candidate refused", "stream", id, "err", err)
	}
}

func (wc *wsConn) streamInfo(id stream.ID, req wsRequest) {
	key := stream.Key{App: wc.app, ID: id}
	st, err := wc.srv.play.Play(wc.ctx, ports.PlayRequest{Key: key, Protocol: "webrtc", Query: tokenQuery(req.Token), RemoteAddr: wc.remote})
	if err != nil {
		wc.send(errorMessage(errorDefinition(err), string(id), err.Error()))
		return
	}
	infos := []streamInfo{trackInfo(st)}
	// The renditions, which forceStreamQuality pins by their height.
	if r := wc.srv.cfg.Renditions; r != nil {
		keys, err := r.RenditionKeys(wc.ctx, key)
		if err != nil {
			wc.log.Debug("renditions look-up failed", "stream", id, "err", err)
		}
		for _, k := range keys {
			rst, err := wc.srv.play.Play(wc.ctx, ports.PlayRequest{Key: k, Protocol: "webrtc", Query: tokenQuery(req.Token), RemoteAddr: wc.remote})
			if err != nil {
				continue
			}
			if ri := trackInfo(rst); ri.StreamHeight > 0 {
				infos = append(infos, ri)
			}
		}
	}
	wc.send(wsMessage{Command: cmdStreamInformation, StreamID: string(id), StreamInfo: infos})
}

// trackInfo describes a stream's first video and audio tracks.
func trackInfo(st *media.Stream) streamInfo {
	var info streamInfo
	for _, t := range st.Tracks() {
		switch {
		case t.IsVideo() && info.VideoCodec == "":
			info.VideoCodec, info.StreamWidth, info.StreamHeight = string(t.Codec), t.Width, t.Height
		case !t.IsVideo() && info.AudioCodec == "":
			info.AudioCodec = string(t.Codec)
		}
	}
	return info
}

// forceQuality pins the video of a play session to the rendition of
// streamHeight (the original's height: the original), or returns it to the
// automatic choice ("auto", 0). The switch happens at the rendition's next
// keyframe and is notified then (resolutionChangeInfo); a height the stream
// has no rendition of is answered with an error and changes nothing.
func (wc *wsConn) forceQuality(id stream.ID, req wsRequest) {
	h, err := parseQuality(string(req.StreamHeight))
	if err != nil {
		wc.send(errorMessage(defNoSuchQuality, string(id), err.Error()))
		return
	}
	sess := wc.get(id)
	if sess == nil || sess.play == nil {
		wc.send(errorMessage(defNoSession, string(id), "play first"))
		return
	}
	ctx, cancel := context.WithTimeout(wc.ctx, forceTimeout)
	defer cancel()
	if err := sess.play.force(ctx, h); err != nil {
		wc.log.Info("forceStreamQuality refused", "stream", id, "height", h, "err", err)
		wc.send(errorMessage(errorDefinition(err), string(id), err.Error()))
		return
	}
	wc.log.Debug("forceStreamQuality", "stream", id, "height", h)
}

// endSessions ends the connection's sessions and waits for them.
func (wc *wsConn) endSessions() {
	wc.mu.Lock()
	var peers []*peer
	for _, sess := range wc.sessions {
		if p := sess.peer(); p != nil {
			peers = append(peers, p)
		}
	}
	wc.mu.Unlock()
	for _, p := range peers {
		p.close(nil)
	}
	for _, p := range peers {
		<-p.Done()
	}
}
