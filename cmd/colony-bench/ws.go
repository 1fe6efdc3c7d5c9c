package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/webrtc/v4"
)

// wsMessage is an Ant Media WebSocket signalling message.
type wsMessage struct {
	Command    string `json:"command"`
	StreamID   string `json:"streamId,omitempty"`
	Type       string `json:"type,omitempty"`
	SDP        string `json:"sdp,omitempty"`
	Label      *int   `json:"label,omitempty"`
	ID         string `json:"id,omitempty"`
	Candidate  string `json:"candidate,omitempty"`
	Definition string `json:"definition,omitempty"`
}

// errSignalling reports an error message from the signalling server.
var errSignalling = errors.New("signalling error")

// wsViewer plays a stream the way Ant Media's JavaScript SDK does: "play"
// over the WebSocket, answer the server's offer, trickle candidates both
// ways with takeCandidate, ping every few seconds.
type wsViewer struct {
	url      string
	streamID string
	stats    *viewerStats
	rtc      *rtcShared
	// afterRead, if set, runs when the read loop has returned, before Run
	// decides how the session ended (tests: the server closing the
	// PeerConnection in between).
	afterRead func(*wsSession)
}

// wsPing is how often the SDK pings the server.
const wsPing = 3 * time.Second

// Run plays until ctx ends, the connection fails or the server ends play.
func (v *wsViewer) Run(parent context.Context) error {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	conn, err := v.dial(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer conn.CloseNow()
	conn.SetReadLimit(1 << 20)
	s := &wsSession{v: v, conn: conn}
	defer s.close()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() { s.ping(ctx) })
	if err := s.send(ctx, wsMessage{Command: "play", StreamID: v.streamID}); err != nil {
		return err
	}
	err = s.readLoop(ctx, cancel)
	if v.afterRead != nil {
		v.afterRead(s)
	}
	switch {
	case parent.Err() != nil:
		// Stopped by the harness. Whatever the connection did meanwhile
		// is not a failure: the WebSocket library closes the socket when
		// the read's context ends, the server then ends the session, and
		// its close of the PeerConnection can be seen before this is.
		_ = s.send(context.Background(), wsMessage{Command: "stop", StreamID: v.streamID})
		_ = conn.Close(websocket.StatusNormalClosure, "")
		return nil
	case ctx.Err() != nil:
		return s.failure() // the PeerConnection failed or was closed
	}
	return err
}

// dial connects, retrying while the server is not there yet.
func (v *wsViewer) dial(ctx context.Context) (*websocket.Conn, error) {
	for {
		dctx, dcancel := context.WithTimeout(ctx, requestTimeout)
		conn, _, err := websocket.Dial(dctx, v.url, nil)
		dcancel()
		if err == nil {
			return conn, nil
		}
		v.stats.retrying(err)
		if !sleepCtx(ctx, 500*time.Millisecond) {
			return nil, fmt.Errorf("websocket %s: %w", v.url, err)
		}
	}
}

// wsSession is one signalling connection and its PeerConnection.
type wsSession struct {
	v    *wsViewer
	conn *websocket.Conn

	mu       sync.Mutex
	pc       *webrtc.PeerConnection
	recv     *rtcReceiver
	answered bool
	pending  []wsMessage // local candidates found before the answer was sent
}

func (s *wsSession) send(ctx context.Context, m wsMessage) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return s.conn.Write(ctx, websocket.MessageText, b)
}

func (s *wsSession) ping(ctx context.Context) {
	for sleepCtx(ctx, wsPing) {
		_ = s.send(ctx, wsMessage{Command: "ping"})
	}
}

// readLoop handles the server's messages until ctx ends or play stops.
func (s *wsSession) readLoop(ctx context.Context, cancel context.CancelFunc) error {
	for {
		_, b, err := s.conn.Read(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil // Run tells a stop from a failure
			}
			return fmt.Errorf("websocket read: %w", err)
		}
		var m wsMessage
		if err := json.Unmarshal(b, &m); err != nil {
			return fmt.Errorf("websocket message %q: %w", b, err)
		}
		switch m.Command {
		case "takeConfiguration":
			if m.Type != "offer" {
				continue
			}
			if err := s.answer(ctx, m.SDP, cancel); err != nil {
				return err
			}
		case "takeCandidate":
			if err := s.addCandidate(m); err != nil {
				return err
			}
		case "error":
			return fmt.Errorf("%w: %s", errSignalling, m.Definition)
		case "notification":
			if m.Definition == "play_finished" {
				return errEnded
			}
		}
	}
}

// failure says whether the session ended because the connection failed.
func (s *wsSession) failure() error {
	s.mu.Lock()
	recv := s.recv
	s.mu.Unlock()
	if recv == nil {
		return nil
	}
	select {
	case <-recv.failed:
		return recv.failure()
	default:
		return nil
	}
}

// answer sets up the PeerConnection for the server's offer and sends the
// answer, then the candidates found meanwhile.
func (s *wsSession) answer(ctx context.Context, offer string, cancel context.CancelFunc) error {
	s.mu.Lock()
	if s.pc != nil {
		s.mu.Unlock()
		return errors.New("second offer on one play session")
	}
	pc, arrivals, err := newRTCPeerConnection(s.v.rtc)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	s.pc, s.recv = pc, newRTCReceiver(pc, arrivals, s.v.stats, cancel)
	s.mu.Unlock()
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c == nil {
			return
		}
		in := c.ToJSON()
		m := wsMessage{Command: "takeCandidate", StreamID: s.v.streamID, Candidate: in.Candidate,
			Label: new(int)}
		if in.SDPMLineIndex != nil {
			*m.Label = int(*in.SDPMLineIndex)
		}
		if in.SDPMid != nil {
			m.ID = *in.SDPMid
		}
		s.mu.Lock()
		if !s.answered {
			s.pending = append(s.pending, m)
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		_ = s.send(ctx, m)
	})
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return fmt.Errorf("offer: %w", err)
	}
	ans, err := pc.CreateAnswer(nil)
	if err != nil {
		return err
	}
	if err := pc.SetLocalDescription(ans); err != nil {
		return err
	}
	if err := s.send(ctx, wsMessage{Command: "takeConfiguration", StreamID: s.v.streamID,
		Type: "answer", SDP: ans.SDP}); err != nil {
		return err
	}
	s.mu.Lock()
	s.answered = true
	pending := s.pending
	s.pending = nil
	s.mu.Unlock()
	for _, m := range pending {
		if err := s.send(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

func (s *wsSession) addCandidate(m wsMessage) error {
	s.mu.Lock()
	pc := s.pc
	s.mu.Unlock()
	if pc == nil || m.Candidate == "" {
		return nil
	}
	in := webrtc.ICECandidateInit{Candidate: m.Candidate}
	if m.ID != "" {
		in.SDPMid = &m.ID
	}
	if m.Label != nil {
		l := uint16(*m.Label)
		in.SDPMLineIndex = &l
	}
	if err := pc.AddICECandidate(in); err != nil {
		return fmt.Errorf("takeCandidate: %w", err)
	}
	return nil
}

// close ends the PeerConnection and records its packet counts.
func (s *wsSession) close() {
	s.mu.Lock()
	recv := s.recv
	s.mu.Unlock()
	if recv != nil {
		recv.close()
	}
}
