package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	gortmp "github.com/yutopp/go-rtmp"
	"github.com/yutopp/go-rtmp/message"
)

// errBadURL reports a target URL the harness cannot use.
var errBadURL = errors.New("bad URL")

// rtmpTarget is a parsed rtmp://HOST[:PORT]/APP/NAME publish URL.
type rtmpTarget struct {
	addr, app, name, tcURL string
}

// parseRTMPURL splits a publish URL; the port defaults to 1935.
func parseRTMPURL(raw string) (rtmpTarget, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return rtmpTarget{}, fmt.Errorf("%w: %v", errBadURL, err)
	}
	if u.Scheme != "rtmp" || u.Host == "" {
		return rtmpTarget{}, fmt.Errorf("%w: %q: want rtmp://HOST[:PORT]/APP/STREAM", errBadURL, raw)
	}
	app, name, ok := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	if !ok || app == "" || name == "" {
		return rtmpTarget{}, fmt.Errorf("%w: %q: want rtmp://HOST[:PORT]/APP/STREAM", errBadURL, raw)
	}
	if u.RawQuery != "" {
		name += "?" + u.RawQuery
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "1935")
	}
	return rtmpTarget{addr: addr, app: app, name: name,
		tcURL: "rtmp://" + u.Host + "/" + app}, nil
}

// publisher publishes a clip over RTMP in real time, stamped.
type publisher struct {
	target rtmpTarget
	clip   *clip
	log    *slog.Logger
	stats  pacerStats
}

// newPublisher checks the URL; Run does the work.
func newPublisher(rawURL string, c *clip, log *slog.Logger) (*publisher, error) {
	t, err := parseRTMPURL(rawURL)
	if err != nil {
		return nil, err
	}
	if c == nil || log == nil {
		return nil, errors.New("publisher: nil clip or logger")
	}
	return &publisher{target: t, clip: c, log: log.With("proto", "rtmp", "app", t.app, "stream", t.name)}, nil
}

// Run connects, publishes until ctx ends, and returns nil then; it returns
// an error if the connection fails or the server refuses or drops it.
func (p *publisher) Run(ctx context.Context) error {
	lg := logrus.New()
	lg.Out = io.Discard
	cc, err := gortmp.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "rtmp", p.target.addr,
		&gortmp.ConnConfig{Logger: lg})
	if err != nil {
		return fmt.Errorf("rtmp dial %s: %w", p.target.addr, err)
	}
	// go-rtmp's calls do not take a context: closing the connection is what
	// unblocks them, on cancellation or when the setup takes too long.
	runCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		<-runCtx.Done()
		_ = cc.Close()
	})
	defer wg.Wait()
	defer cancel()
	setupTimer := time.AfterFunc(10*time.Second, cancel)
	s, err := p.setup(cc)
	if !setupTimer.Stop() && err == nil {
		err = errors.New("setup timed out")
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("rtmp publish %s/%s: %w", p.target.app, p.target.name, err)
	}
	p.log.Info("publishing", "addr", p.target.addr)
	sink := &rtmpSink{s: s}
	if err := sink.writeHeaders(p.clip); err != nil {
		return fmt.Errorf("rtmp sequence headers: %w", err)
	}
	if err := pace(runCtx, p.clip, sink, &p.stats); err != nil {
		return fmt.Errorf("rtmp publish: %w", err)
	}
	return nil
}

func (p *publisher) setup(cc *gortmp.ClientConn) (*gortmp.Stream, error) {
	err := cc.Connect(&message.NetConnectionConnect{Command: message.NetConnectionConnectCommand{
		App: p.target.app, Type: "nonprivate", FlashVer: "FMLE/3.0 (compatible; colony-bench)",
		TCURL: p.target.tcURL,
	}})
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	s, err := cc.CreateStream(nil, 4096)
	if err != nil {
		return nil, fmt.Errorf("createStream: %w", err)
	}
	if err := s.Publish(&message.NetStreamPublish{PublishingName: p.target.name, PublishingType: "live"}); err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	return s, nil
}

// rtmpSink writes FLV tag bodies as RTMP audio and video messages.
type rtmpSink struct {
	s *gortmp.Stream
}

const (
	chunkStreamAudio = 4
	chunkStreamVideo = 6
)

func (k *rtmpSink) writeHeaders(c *clip) error {
	if err := k.s.Write(chunkStreamVideo, 0, &message.VideoMessage{
		Payload: bytes.NewReader(flvAVCSequenceHeader(c.sps, c.pps))}); err != nil {
		return err
	}
	if c.audioConfig == nil {
		return nil
	}
	return k.s.Write(chunkStreamAudio, 0, &message.AudioMessage{
		Payload: bytes.NewReader(flvAACSequenceHeader(c.audioConfig))})
}

func (k *rtmpSink) writeVideo(ts, cts time.Duration, key bool, au []byte) error {
	return k.s.Write(chunkStreamVideo, uint32(ts/time.Millisecond), &message.VideoMessage{
		Payload: bytes.NewReader(flvAVCFrame(key, cts, au))})
}

func (k *rtmpSink) writeAudio(ts time.Duration, frame []byte) error {
	return k.s.Write(chunkStreamAudio, uint32(ts/time.Millisecond), &message.AudioMessage{
		Payload: bytes.NewReader(flvAACFrame(frame))})
}
