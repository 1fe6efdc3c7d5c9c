package rtmp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	gortmp "github.com/yutopp/go-rtmp"
	"github.com/yutopp/go-rtmp/message"

	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
)

// Chunk streams of the messages this package sends: protocol control
// (RTMP's fixed 2) and onStatus.
const (
	controlChunkStreamID = 2
	statusChunkStreamID  = 5
)

// outChunkSize is the chunk size of what the server sends.
const outChunkSize = 4096

// maxMessageStreams bounds createStream per connection.
const maxMessageStreams = 8

// readerBufferSize is go-rtmp's read buffer per connection.
const readerBufferSize = 32 << 10

// maxScratch bounds the payload buffer a connection keeps between messages.
const maxScratch = 1 << 20

// connHandler is go-rtmp's handler for one connection. go-rtmp calls it
// from the connection's goroutine only, so its fields need no lock (except
// rtmpErr, written by the logrus hook).
type connHandler struct {
	gortmp.DefaultHandler
	srv    *Server
	nc     *netConn
	conn   *gortmp.Conn
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc

	app      string
	appQuery url.Values

	pub         ports.Publication
	p           *publisher
	pubStreamID uint32
	scratch     []byte // reused for message payloads
	unpublished bool   // deleteStream or FCUnpublish received
	err         error  // the error this side ended the connection with

	mu      sync.Mutex
	rtmpErr string // the error go-rtmp ended the connection with, from its log
}

func (s *Server) newConnHandler(ctx context.Context, nc *netConn) (io.ReadWriteCloser, *gortmp.ConnConfig) {
	cctx, cancel := context.WithCancel(ctx)
	h := &connHandler{
		srv:    s,
		nc:     nc,
		log:    s.log.With("remote", nc.RemoteAddr().String()),
		ctx:    cctx,
		cancel: cancel,
	}
	// go-rtmp logs through logrus: keep it quiet, but learn from its final
	// error log why it ended a connection.
	lg := logrus.New()
	lg.Out = io.Discard
	lg.Level = logrus.ErrorLevel
	lg.AddHook(errorHook{h})
	return nc, &gortmp.ConnConfig{
		Handler:          h,
		ReaderBufferSize: readerBufferSize,
		ControlState: gortmp.StreamControlStateConfig{
			MaxChunkSize:      s.cfg.MaxChunkSize,
			MaxChunkStreams:   s.cfg.MaxChunkStreams,
			MaxMessageSize:    uint32(min(s.cfg.MaxMessageSize, gortmp.MaxChunkSize)),
			MaxMessageStreams: maxMessageStreams,
		},
		Logger: lg,
	}
}

// errorHook records the first error go-rtmp logs for a connection.
type errorHook struct{ h *connHandler }

func (errorHook) Levels() []logrus.Level { return []logrus.Level{logrus.ErrorLevel} }

func (k errorHook) Fire(e *logrus.Entry) error {
	msg, _, _ := strings.Cut(e.Message, "\n") // drop pkg/errors stack traces
	msg = strings.TrimPrefix(msg, "Server closed by error: Err = ")
	k.h.mu.Lock()
	if k.h.rtmpErr == "" {
		k.h.rtmpErr = msg
	}
	k.h.mu.Unlock()
	return nil
}

func (h *connHandler) OnServe(conn *gortmp.Conn) {
	h.conn = conn
	h.nc.handshakeDone(conn.GetChunkStreamer())
	// Send with larger chunks than RTMP's default 128 bytes, as other
	// servers do. It also keeps each onStatus in one chunk, so that a
	// refusal's description reaches the client before go-rtmp's generic
	// NetStream.Publish.Failed (go-rtmp interleaves fragmented messages).
	// Nothing has been written yet, so no message is split across sizes.
	if err := conn.GetChunkStreamer().SelfState().SetChunkSize(outChunkSize); err != nil {
		h.log.Debug("cannot set chunk size", "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(h.ctx, h.srv.cfg.WriteTimeout)
	defer cancel()
	if err := conn.Write(ctx, controlChunkStreamID, 0, &gortmp.ChunkMessage{
		Message: &message.SetChunkSize{ChunkSize: outChunkSize},
	}); err != nil {
		h.log.Debug("cannot send chunk size", "err", err)
	}
}

func (h *connHandler) OnConnect(_ uint32, cmd *message.NetConnectionConnect) error {
	app, rawQuery, _ := strings.Cut(cmd.Command.App, "?")
	h.app = strings.TrimSuffix(app, "/")
	h.appQuery, _ = url.ParseQuery(rawQuery) // keeps what parses
	h.log.Debug("connect", "app", h.app, "tc_url", cmd.Command.TCURL)
	return nil
}

func (h *connHandler) OnPublish(sc *gortmp.StreamContext, _ uint32, cmd *message.NetStreamPublish) error {
	if h.pub != nil {
		return h.refuse(sc.StreamID, message.NetStreamOnStatusCodePublishBadName,
			"this connection already publishes a stream", errors.New("second publish on one connection"))
	}
	name, rawQuery, _ := strings.Cut(cmd.PublishingName, "?")
	query := url.Values{}
	for k, v := range h.appQuery {
		query[k] = v
	}
	nameQuery, _ := url.ParseQuery(rawQuery)
	for k, v := range nameQuery {
		query[k] = v
	}

	key, err := stream.ParseKey(h.app, name)
	if err != nil {
		code, desc := publishRefusal(err)
		return h.refuse(sc.StreamID, code, desc, err)
	}
	log := h.log.With("stream", key.String())
	pub, err := h.srv.ingest.Publish(h.ctx, ports.PublishRequest{
		Key:         key,
		PublishType: stream.PublishRTMP,
		Query:       query,
		RemoteAddr:  h.nc.RemoteAddr().String(),
	})
	if err != nil {
		code, desc := publishRefusal(err)
		h.log = log
		return h.refuse(sc.StreamID, code, desc, err)
	}

	h.log = log
	h.pub, h.pubStreamID = pub, sc.StreamID
	h.p = newPublisher(pub, log, h.srv.cfg.MaxStartWait, time.Now())
	h.srv.publishers.Add(1)
	h.srv.goTracked(func() {
		select {
		case <-pub.Kicked():
			log.Info("publisher kicked")
			h.nc.abort()
		case <-h.ctx.Done():
		}
	})
	log.Info("publish accepted")
	return nil
}

// refuse tells the publisher why its publish is refused and returns the
// error that makes go-rtmp close the connection (after its own generic
// NetStream.Publish.Failed).
func (h *connHandler) refuse(streamID uint32, code message.NetStreamOnStatusCode, desc string, cause error) error {
	h.log.Info("publish refused", "code", string(code), "reason", cause)
	if err := h.sendStatus(streamID, code, desc); err != nil {
		h.log.Debug("cannot send onStatus", "err", err)
	}
	h.err = fmt.Errorf("publish refused: %w", cause)
	return h.err
}

// sendStatus sends an error onStatus on the message stream streamID.
func (h *connHandler) sendStatus(streamID uint32, code message.NetStreamOnStatusCode, desc string) error {
	var body bytes.Buffer
	status := &message.NetStreamOnStatus{InfoObject: message.NetStreamOnStatusInfoObject{
		Level:       message.NetStreamOnStatusLevelError,
		Code:        code,
		Description: desc,
	}}
	if err := message.EncodeBodyAnyValues(message.NewAMFEncoder(&body, message.EncodingTypeAMF0), status); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(h.ctx, h.srv.cfg.WriteTimeout)
	defer cancel()
	return h.conn.Write(ctx, statusChunkStreamID, 0, &gortmp.ChunkMessage{
		StreamID: streamID,
		Message: &message.CommandMessage{
			CommandName: "onStatus",
			Encoding:    message.EncodingTypeAMF0,
			Body:        &body,
		},
	})
}

func (h *connHandler) OnPlay(*gortmp.StreamContext, uint32, *message.NetStreamPlay) error {
	h.err = errors.New("RTMP playback is not supported")
	h.log.Info("play refused")
	return h.err
}

func (h *connHandler) OnSetDataFrame(_ uint32, data *message.NetStreamSetDataFrame) error {
	if h.p != nil {
		h.p.onMeta(metaFromFLV(data.Payload))
	}
	return nil
}

func (h *connHandler) OnVideo(ts uint32, payload io.Reader) error {
	if h.p == nil {
		return nil
	}
	b, err := h.read(payload)
	if err == nil {
		err = h.p.onVideo(time.Now(), ts, b)
	}
	return h.fail(err)
}

func (h *connHandler) OnAudio(ts uint32, payload io.Reader) error {
	if h.p == nil {
		return nil
	}
	b, err := h.read(payload)
	if err == nil {
		err = h.p.onAudio(time.Now(), ts, b)
	}
	return h.fail(err)
}

// read reads a message payload into the connection's scratch buffer. The
// bytes are valid until the next read.
func (h *connHandler) read(payload io.Reader) ([]byte, error) {
	b, err := readPayload(h.scratch, payload, h.srv.cfg.MaxMessageSize)
	if cap(b) <= maxScratch {
		h.scratch = b
	} else {
		h.scratch = nil
	}
	return b, err
}

// fail records err as the reason the connection ends, and returns it.
func (h *connHandler) fail(err error) error {
	if err != nil && h.err == nil {
		h.err = err
		h.log.Warn("closing publisher", "err", err)
	}
	return err
}

func (h *connHandler) OnFCUnpublish(uint32, *message.NetStreamFCUnpublish) error {
	if h.pub != nil {
		h.unpublished = true
	}
	return nil
}

func (h *connHandler) OnDeleteStream(_ uint32, cmd *message.NetStreamDeleteStream) error {
	if h.pub != nil && cmd.StreamID == h.pubStreamID {
		h.unpublished = true
		h.end(nil)
	}
	return nil
}

// end ends the publication once.
func (h *connHandler) end(err error) {
	if h.pub == nil || h.p == nil {
		return
	}
	h.p = nil
	h.pub.End(err)
	h.srv.publishers.Add(-1)
	if err != nil {
		h.log.Warn("publication ended", "err", err)
	} else {
		h.log.Info("publication ended")
	}
}

// OnClose runs when go-rtmp closes the connection, before the socket.
func (h *connHandler) OnClose() {
	h.cancel()
	err := h.endErr()
	h.end(err)
	h.log.Debug("connection closed", "err", err)
}

// endErr is what ended a publishing connection: nil for an unpublish, a
// close by the publisher, a kick or a shutdown.
func (h *connHandler) endErr() error {
	h.mu.Lock()
	rtmpErr := h.rtmpErr
	h.mu.Unlock()
	switch rerr := h.nc.readErr; {
	case h.err != nil:
		return h.err
	case h.unpublished, h.nc.aborted.Load(), errors.Is(rerr, io.EOF):
		return nil
	case rerr != nil:
		return fmt.Errorf("connection lost: %w", rerr)
	case rtmpErr != "":
		return fmt.Errorf("rtmp protocol error: %s", rtmpErr)
	default:
		return nil
	}
}
