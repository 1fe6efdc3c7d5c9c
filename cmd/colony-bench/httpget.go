package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"
)

// statusError is an HTTP answer other than the one expected.
type statusError struct {
	Method string // GET when empty
	Code   int
	URL    string
	Reason string // the first line of the answer's body (the server's reason), if any
}

func (e *statusError) Error() string {
	m := e.Method
	if m == "" {
		m = http.MethodGet
	}
	if e.Reason != "" {
		return fmt.Sprintf("%s %s: HTTP %d: %s", m, e.URL, e.Code, e.Reason)
	}
	return fmt.Sprintf("%s %s: HTTP %d", m, e.URL, e.Code)
}

// maxReason bounds the reason kept from an error answer's body.
const maxReason = 200

// bodyReason returns the first line of an error answer's body, trimmed
// and bounded.
func bodyReason(body []byte) string {
	if i := bytes.IndexByte(body, '\n'); i >= 0 {
		body = body[:i]
	}
	body = bytes.TrimSpace(body)
	if len(body) > maxReason {
		body = body[:maxReason]
	}
	return string(bytes.ToValidUTF8(body, []byte("?")))
}

// newHTTPClient returns a client whose transport keeps a connection per
// concurrent request of n viewers, like n browsers would.
func newHTTPClient(n int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 4*n + 8,
		IdleConnTimeout:     60 * time.Second,
		DisableCompression:  true,
	}}
}

// requestTimeout bounds one request, long enough for a blocking playlist
// reload or preload hint (at most a few target durations).
const requestTimeout = 10 * time.Second

// get fetches u into buf (reset first) and returns the body's bytes, which
// stay valid until the next use of buf.
func get(ctx context.Context, c *http.Client, u string, buf *bytes.Buffer) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return nil, &statusError{Code: resp.StatusCode, URL: u, Reason: bodyReason(b)}
	}
	buf.Reset()
	if resp.ContentLength > 0 && resp.ContentLength < 64<<20 {
		buf.Grow(int(resp.ContentLength))
	}
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	return buf.Bytes(), nil
}

// resolve returns ref relative to base.
func resolve(base *url.URL, ref string) (*url.URL, error) {
	r, err := url.Parse(ref)
	if err != nil {
		return nil, err
	}
	return base.ResolveReference(r), nil
}
