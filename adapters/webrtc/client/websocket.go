package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/coder/websocket"
	pion "github.com/pion/webrtc/v4"
)

// wsMessage is a message of Ant Media's WebSocket signalling, both ways.
type wsMessage struct {
	Command    string  `json:"command"`
	StreamID   string  `json:"streamId,omitempty"`
	Token      string  `json:"token,omitempty"`
	Definition string  `json:"definition,omitempty"`
	Message    string  `json:"message,omitempty"`
	Type       string  `json:"type,omitempty"`
	SDP        string  `json:"sdp,omitempty"`
	Candidate  string  `json:"candidate,omitempty"`
	Label      *uint16 `json:"label,omitempty"`
	ID         *string `json:"id,omitempty"`
}

// maxWSMessage bounds a signalling message.
const maxWSMessage = 1 << 20

// PlayWebSocket plays streamID over Ant Media's WebSocket signalling
// (ws://host:port/App/websocket), as @antmedia/webrtc_adaptor does: the
// client sends play, the server offers, the client answers, and both
// trickle their candidates. It returns once the server has notified
// play_started; an error message of the server is returned as a
// *SignalError. The WebSocket stays open for the session: stop is sent at
// Close, and play_finished or an error ends the session.
func PlayWebSocket(ctx context.Context, wsURL, streamID string, opts PlayOptions) (*Player, error) {
	pl, err := newPlayer(ctx, wsURL, opts)
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithTimeout(ctx, pl.opts.ConnectTimeout)
	defer cancel()
	c, _, err := websocket.Dial(sctx, wsURL, nil)
	if err != nil {
		return pl.fail(fmt.Errorf("dial %s: %w", wsURL, err))
	}
	c.SetReadLimit(maxWSMessage)
	ws := &wsPlay{pl: pl, c: c, id: streamID, started: make(chan error, 1)}
	pl.onTeardown(func() { _ = c.CloseNow() })
	pl.setHangup(func(ctx context.Context) error {
		err := ws.send(ctx, wsMessage{Command: "stop", StreamID: streamID})
		return errors.Join(err, c.Close(websocket.StatusNormalClosure, ""))
	})
	pl.pc.OnICECandidate(ws.onCandidate)
	if !pl.goTracked(ws.readLoop) {
		return pl.fail(ErrClosed)
	}
	if err := ws.send(sctx, wsMessage{Command: "play", StreamID: streamID, Token: pl.opts.Token}); err != nil {
		return pl.fail(err)
	}
	select {
	case err = <-ws.started:
	case <-sctx.Done():
		err = fmt.Errorf("waiting for play_started: %w", sctx.Err())
	case <-pl.ctx.Done():
		err = context.Cause(pl.ctx)
	}
	if err == nil {
		err = pl.waitConnected(sctx, pl.opts.ConnectTimeout)
	}
	if err != nil {
		pl.hangUp()
		return pl.fail(err)
	}
	pl.markConnected()
	return pl, nil
}

// wsPlay is the signalling side of a WebSocket play session.
type wsPlay struct {
	pl      *Player
	c       *websocket.Conn
	id      string
	started chan error // play_started (nil) or the error before it

	mu        sync.Mutex
	remoteSet bool
	cands     []pion.ICECandidateInit // received before the offer
	once      sync.Once
}

func (ws *wsPlay) send(ctx context.Context, m wsMessage) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := ws.c.Write(ctx, websocket.MessageText, b); err != nil {
		return fmt.Errorf("send %s: %w", m.Command, err)
	}
	return nil
}

func (ws *wsPlay) start(err error) {
	ws.once.Do(func() { ws.started <- err })
}

func (ws *wsPlay) onCandidate(c *pion.ICECandidate) {
	if c == nil {
		return
	}
	init := c.ToJSON()
	m := wsMessage{Command: "takeCandidate", StreamID: ws.id, Candidate: init.Candidate, Label: init.SDPMLineIndex, ID: init.SDPMid}
	if err := ws.send(ws.pl.ctx, m); err != nil {
		ws.pl.log.Debug("send candidate", "err", err)
	}
}

// readLoop handles the server's messages until the WebSocket closes.
func (ws *wsPlay) readLoop() {
	for {
		_, b, err := ws.c.Read(ws.pl.ctx)
		if err != nil {
			ws.start(fmt.Errorf("signalling closed: %w", err))
			ws.pl.end(fmt.Errorf("%w: signalling closed: %w", ErrPeerGone, err))
			return
		}
		var m wsMessage
		if err := json.Unmarshal(b, &m); err != nil {
			ws.pl.log.Debug("undecodable signalling message", "err", err)
			continue
		}
		if m.StreamID != "" && m.StreamID != ws.id {
			continue
		}
		if err := ws.handle(m); err != nil {
			ws.start(err)
			ws.pl.end(err)
			return
		}
	}
}

func (ws *wsPlay) handle(m wsMessage) error {
	switch m.Command {
	case "takeConfiguration":
		if m.Type != "offer" {
			return fmt.Errorf("unexpected %q description", m.Type)
		}
		return ws.answer(m.SDP)
	case "takeCandidate":
		c := pion.ICECandidateInit{Candidate: m.Candidate, SDPMLineIndex: m.Label, SDPMid: m.ID}
		ws.mu.Lock()
		if !ws.remoteSet {
			ws.cands = append(ws.cands, c)
			ws.mu.Unlock()
			return nil
		}
		ws.mu.Unlock()
		if err := ws.pl.pc.AddICECandidate(c); err != nil {
			ws.pl.log.Debug("remote candidate refused", "err", err)
		}
	case "notification":
		switch m.Definition {
		case "play_started":
			ws.start(nil)
		case "play_finished":
			return fmt.Errorf("%w: play_finished", ErrPeerGone)
		}
	case "error":
		return &SignalError{Definition: m.Definition, Message: m.Message}
	}
	return nil
}

// answer answers the server's offer; the answer is sent before the local
// description is set, so that it precedes the candidates.
func (ws *wsPlay) answer(offer string) error {
	pc := ws.pl.pc
	if err := pc.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeOffer, SDP: offer}); err != nil {
		return fmt.Errorf("set the offer: %w", err)
	}
	ws.mu.Lock()
	ws.remoteSet = true
	cands := ws.cands
	ws.cands = nil
	ws.mu.Unlock()
	for _, c := range cands {
		if err := pc.AddICECandidate(c); err != nil {
			ws.pl.log.Debug("remote candidate refused", "err", err)
		}
	}
	ans, err := pc.CreateAnswer(nil)
	if err != nil {
		return fmt.Errorf("create answer: %w", err)
	}
	if err := ws.send(ws.pl.ctx, wsMessage{Command: "takeConfiguration", StreamID: ws.id, Type: "answer", SDP: ans.SDP}); err != nil {
		return err
	}
	if err := pc.SetLocalDescription(ans); err != nil {
		return fmt.Errorf("set the answer: %w", err)
	}
	return nil
}
