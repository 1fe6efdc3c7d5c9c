package relay

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/colony-live/colony/core/origin"
	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
)

// Puller errors.
var (
	// ErrNoNodeID is returned by NewPuller without a NodeID.
	ErrNoNodeID = errors.New("relay: puller needs a node id")
	// ErrNoRelayAddr: the origin's claim names no relay address.
	ErrNoRelayAddr = errors.New("relay: origin has no relay address")
	// ErrUnexpectedStatus: the origin answered with an unexpected HTTP status or content type.
	ErrUnexpectedStatus = errors.New("relay: unexpected origin response")
	// ErrOpenTimeout: the origin did not answer within HeaderTimeout.
	ErrOpenTimeout = errors.New("relay: origin did not answer in time")
	// ErrIdleTimeout: the origin sent nothing, not even a heartbeat, for ReadTimeout.
	ErrIdleTimeout = errors.New("relay: origin went silent")
	// ErrConnectionLost: the relay ended without an end-of-stream frame.
	ErrConnectionLost = errors.New("relay: connection to origin lost")
	// ErrSessionClosed: Run was called twice, or after Close.
	ErrSessionClosed = errors.New("relay: pull session closed")
)

// PullerConfig configures a Puller.
type PullerConfig struct {
	// Secret is the cluster secret that relay tokens are signed with; at
	// least MinSecretLen bytes.
	Secret []byte
	// NodeID is this node's id, the issuer of its tokens (required).
	NodeID string
	// Logger receives the puller's logs (default: discarded).
	Logger *slog.Logger
	// DialTimeout bounds connecting to an origin (default 5s).
	DialTimeout time.Duration
	// HeaderTimeout bounds the wait for the origin's response and its
	// header frame (default 10s).
	HeaderTimeout time.Duration
	// ReadTimeout is the longest an open pull waits for a frame before it
	// counts the origin as gone (default 10s). Origins send a heartbeat
	// every ServerConfig.Heartbeat, which must be well below it.
	ReadTimeout time.Duration
	// TokenTTL is the lifetime of the tokens the puller signs (default DefaultTokenTTL).
	TokenTTL time.Duration
}

func (c PullerConfig) withDefaults() PullerConfig {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = 5 * time.Second
	}
	if c.HeaderTimeout <= 0 {
		c.HeaderTimeout = 10 * time.Second
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = 10 * time.Second
	}
	if c.TokenTTL <= 0 {
		c.TokenTTL = DefaultTokenTTL
	}
	return c
}

// Puller pulls streams from origins' relay servers. It implements
// ports.Puller. Close it to release idle connections.
type Puller struct {
	cfg       PullerConfig
	log       *slog.Logger
	transport *http.Transport
	client    *http.Client
	// token signs the token for key; tests replace it.
	token func(key stream.Key) (string, error)
}

var _ ports.Puller = (*Puller)(nil)

// NewPuller returns a Puller.
func NewPuller(cfg PullerConfig) (*Puller, error) {
	if len(cfg.Secret) < MinSecretLen {
		return nil, ErrWeakSecret
	}
	if cfg.NodeID == "" {
		return nil, ErrNoNodeID
	}
	cfg = cfg.withDefaults()
	cfg.Secret = append([]byte(nil), cfg.Secret...)
	tr := &http.Transport{
		Proxy:                 nil, // internal traffic never goes through a proxy
		DialContext:           (&net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 15 * time.Second}).DialContext,
		ResponseHeaderTimeout: cfg.HeaderTimeout,
		MaxIdleConns:          16,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       30 * time.Second,
		DisableCompression:    true,
		ReadBufferSize:        64 << 10,
	}
	p := &Puller{
		cfg:       cfg,
		log:       cfg.Logger.With("proto", "relay"),
		transport: tr,
		client: &http.Client{
			Transport: tr, // no overall timeout: relays are long
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse // never send a token elsewhere
			},
		},
	}
	p.token = func(key stream.Key) (string, error) {
		return Sign(p.cfg.Secret, key, p.cfg.NodeID, time.Now(), p.cfg.TokenTTL)
	}
	return p, nil
}

// Close releases the puller's idle connections. Open sessions are not affected.
func (p *Puller) Close() { p.transport.CloseIdleConnections() }

// relayURL is the address of key on the relay server at addr (host:port,
// or a base http:// URL).
func relayURL(addr string, key stream.Key) string {
	base := strings.TrimSuffix(addr, "/")
	if !strings.HasPrefix(base, "http://") && !strings.HasPrefix(base, "https://") {
		base = "http://" + base
	}
	// App and ID are validated names, safe in a path as they are.
	return base + pathPrefix + string(key.App) + "/" + string(key.ID)
}

// Open asks the origin named by from for key and returns once it has
// answered with the stream's tracks. ctx bounds only the opening: the
// session lives until Run returns or Close.
func (p *Puller) Open(ctx context.Context, key stream.Key, from origin.Claim) (ports.PullSession, error) {
	if from.RelayAddr == "" {
		return nil, fmt.Errorf("%w: %s (node %s)", ErrNoRelayAddr, key, from.Node)
	}
	tok, err := p.token(key)
	if err != nil {
		return nil, err
	}
	// The request lives in its own context: ctx only cancels it while opening.
	sctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(sctx, http.MethodGet, relayURL(from.RelayAddr, key), nil)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("relay: request for %s at %q: %w", key, from.RelayAddr, err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	req.Header.Set("Accept", ContentType)
	req.Header.Set("User-Agent", "colony-relay/1")

	stopCtx := context.AfterFunc(ctx, cancel)
	var timedOut atomic.Bool
	timer := time.AfterFunc(p.cfg.HeaderTimeout, func() { timedOut.Store(true); cancel() })
	var body io.ReadCloser
	fail := func(err error) (ports.PullSession, error) {
		timer.Stop()
		stopCtx()
		cancel()
		if body != nil {
			body.Close()
		}
		switch {
		case ctx.Err() != nil:
			return nil, fmt.Errorf("relay: open %s: %w", key, context.Cause(ctx))
		case timedOut.Load():
			return nil, fmt.Errorf("%w: %s from %s within %s", ErrOpenTimeout, key, from.RelayAddr, p.cfg.HeaderTimeout)
		}
		return nil, err
	}

	resp, err := p.client.Do(req)
	if err != nil {
		return fail(fmt.Errorf("relay: pull %s from %s: %w", key, from.RelayAddr, err))
	}
	body = resp.Body
	if err := checkResponse(resp, key, from); err != nil {
		return fail(err)
	}
	dec := NewDecoder(bufio.NewReaderSize(body, 64<<10))
	tracks, err := dec.ReadHeader()
	if err != nil {
		return fail(fmt.Errorf("relay: header of %s from %s: %w", key, from.RelayAddr, err))
	}
	if !timer.Stop() || !stopCtx() {
		return fail(context.Canceled) // replaced by the cause in fail
	}
	return &session{
		key:         key,
		tracks:      tracks,
		body:        body,
		dec:         dec,
		cancel:      cancel,
		readTimeout: p.cfg.ReadTimeout,
	}, nil
}

// checkResponse maps the origin's answer to an error, nil for a relay.
func checkResponse(resp *http.Response, key stream.Key, from origin.Claim) error {
	if resp.StatusCode == http.StatusOK {
		mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
		if mt != ContentType {
			return fmt.Errorf("%w: content type %q from %s", ErrUnexpectedStatus, mt, from.RelayAddr)
		}
		return nil
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	text := strings.TrimSpace(string(msg))
	switch resp.StatusCode {
	case http.StatusNotFound:
		return fmt.Errorf("%w: %s on origin %s: %s", ports.ErrStreamNotFound, key, from.Node, text)
	case http.StatusUnauthorized, http.StatusForbidden:
		return fmt.Errorf("%w: origin %s refused the pull of %s: %s", ports.ErrUnauthorized, from.Node, key, text)
	default:
		return fmt.Errorf("%w: %s from %s for %s: %s", ErrUnexpectedStatus, resp.Status, from.RelayAddr, key, text)
	}
}
