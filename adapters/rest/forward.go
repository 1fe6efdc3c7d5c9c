package rest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/colony-live/colony/core/node"
	"github.com/colony-live/colony/core/stream"
)

// ForwardConfig lets a cluster node hand the calls about a live stream to
// the stream's origin, so that every node gives the same answer.
type ForwardConfig struct {
	// Secret is the cluster secret: the forwarding node signs a short token
	// with it, and the origin lets such calls in. nil: no forwarding (a
	// standalone node).
	Secret []byte
	// Timeout bounds a forwarded call (default DefaultForwardTimeout).
	Timeout time.Duration
	// Client sends forwarded calls (default: a client with Timeout).
	Client *http.Client
}

// DefaultForwardTimeout is ForwardConfig.Timeout's default.
const DefaultForwardTimeout = 3 * time.Second

// ForwardHeader carries a forwarded call's token. A call that carries it is
// always answered where it arrives: it is never forwarded again, so a stale
// record can never make two nodes forward to each other.
const ForwardHeader = "X-Colony-Forward"

// ForwardedToHeader names, in an answer, the origin node that gave it.
const ForwardedToHeader = "X-Colony-Forwarded-To"

// forwardAudience is the audience of forwarding tokens (relay tokens,
// signed with the same secret, have another one and are refused).
const forwardAudience = "colony-rest-forward"

// forwardTokenTTL is how long a forwarding token is valid.
const forwardTokenTTL = 30 * time.Second

// maxForwardAnswer bounds the origin's answer that is copied back.
const maxForwardAnswer = 4 << 20

// forwarded reports whether r was forwarded by another node.
func forwarded(r *http.Request) bool { return r.Header.Get(ForwardHeader) != "" }

// signForward returns a forwarding token from self.
func signForward(secret []byte, self node.ID, now time.Time) (string, error) {
	claims := jwt.RegisteredClaims{
		Issuer:    string(self),
		Audience:  jwt.ClaimStrings{forwardAudience},
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(forwardTokenTTL)),
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
}

// validForward reports whether tok is a forwarding token signed with secret.
func validForward(secret []byte, tok string, now time.Time) bool {
	if secret == nil || tok == "" || len(tok) > 4096 {
		return false
	}
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithAudience(forwardAudience),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	_, err := p.Parse(tok, func(*jwt.Token) (any, error) { return secret, nil })
	return err == nil
}

// atOrigin wraps a handler about a live stream: the record is read, and
// when the stream is live on another node (and the call was not forwarded
// already) the call is forwarded to that node; otherwise h answers here.
func (s *Server) atOrigin(h func(http.ResponseWriter, *http.Request, stream.Broadcast)) func(http.ResponseWriter, *http.Request, stream.Key) {
	return func(w http.ResponseWriter, r *http.Request, key stream.Key) {
		b, err := s.catalog.Broadcast(r.Context(), key)
		if err != nil {
			storeError(w, err)
			return
		}
		if s.elsewhere(r, b) {
			s.forward(w, r, b)
			return
		}
		h(w, r, b)
	}
}

// elsewhere reports whether r, about b, is to be forwarded to b's origin.
func (s *Server) elsewhere(r *http.Request, b stream.Broadcast) bool {
	return s.cfg.Forward.Secret != nil && !forwarded(r) && b.Live() &&
		b.OriginNode != "" && b.OriginNode != string(s.node.Self().ID)
}

// errOriginGone: the origin of a live stream is not a live node.
var errOriginGone = errors.New("origin node is not alive")

// originHTTP returns the HTTP address of the live node id.
func (s *Server) originHTTP(ctx context.Context, id string) (string, error) {
	nodes, err := s.nodes.Nodes(ctx)
	if err != nil {
		return "", err
	}
	for _, n := range nodes {
		if string(n.ID) != id {
			continue
		}
		if !n.Alive(s.cfg.Now(), s.cfg.DeadAfter) || n.HTTPAddr == "" {
			break
		}
		return n.HTTPAddr, nil
	}
	return "", fmt.Errorf("%w: %s", errOriginGone, id)
}

// forward sends r to the origin of b and copies its answer back. An origin
// that is not alive gives 503, one that does not answer 502, both with an
// Ant Media result.
func (s *Server) forward(w http.ResponseWriter, r *http.Request, b stream.Broadcast) {
	addr, err := s.originHTTP(r.Context(), b.OriginNode)
	if err != nil {
		if errors.Is(err, errOriginGone) {
			writeJSON(w, http.StatusServiceUnavailable, Result{Message: "stream " + b.Key.String() + " is live on node " + b.OriginNode + ", which is not alive", ErrorID: http.StatusServiceUnavailable})
			return
		}
		storeError(w, err)
		return
	}
	tok, err := signForward(s.cfg.Forward.Secret, s.node.Self().ID, s.cfg.Now())
	if err != nil {
		fail(w, http.StatusInternalServerError, "cannot sign the forwarding token")
		return
	}
	var body io.Reader
	if r.Body != nil && r.Body != http.NoBody {
		data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			fail(w, http.StatusBadRequest, "request body too large")
			return
		}
		body = bytes.NewReader(data)
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.Forward.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, r.Method, "http://"+addr+r.URL.RequestURI(), body)
	if err != nil {
		fail(w, http.StatusInternalServerError, err.Error())
		return
	}
	req.Header.Set(ForwardHeader, tok)
	if ct := r.Header.Get("Content-Type"); ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	resp, err := s.cfg.Forward.Client.Do(req)
	if err != nil {
		s.log.Warn("REST call not forwarded: origin unreachable", "stream", b.Key.String(), "origin", b.OriginNode, "addr", addr, "err", err)
		writeJSON(w, http.StatusBadGateway, Result{Message: "stream " + b.Key.String() + " is live on node " + b.OriginNode + " (" + addr + "), which did not answer: " + err.Error(), ErrorID: http.StatusBadGateway})
		return
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxForwardAnswer))
	if err != nil {
		writeJSON(w, http.StatusBadGateway, Result{Message: "origin node " + b.OriginNode + " broke off its answer: " + err.Error(), ErrorID: http.StatusBadGateway})
		return
	}
	h := w.Header()
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		h.Set("Content-Type", ct)
	}
	h.Set("Cache-Control", "no-store")
	h.Set(ForwardedToHeader, b.OriginNode)
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(answer)
}
