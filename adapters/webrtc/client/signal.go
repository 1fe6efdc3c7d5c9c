package client

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	pion "github.com/pion/webrtc/v4"
)

// maxAnswerBytes bounds an SDP answer.
const maxAnswerBytes = 256 << 10

// gatheredOffer makes an offer that carries every local candidate (WHIP
// and WHEP are non-trickle here).
func gatheredOffer(ctx context.Context, pc *pion.PeerConnection, timeout time.Duration) (string, error) {
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return "", fmt.Errorf("create offer: %w", err)
	}
	gathered := pion.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return "", fmt.Errorf("set local description: %w", err)
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-gathered:
	case <-t.C: // offer the candidates found so far
	case <-ctx.Done():
		return "", ctx.Err()
	}
	return pc.LocalDescription().SDP, nil
}

// exchange posts an offer to a WHIP or WHEP endpoint, applies the answer
// and returns the session's resource URL (the Location header, resolved).
func exchange(ctx context.Context, s *session, endpoint string, opts Options) (string, error) {
	offer, err := gatheredOffer(ctx, s.pc, opts.ConnectTimeout)
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(offer))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/sdp")
	if opts.Token != "" {
		req.Header.Set("Authorization", "Bearer "+opts.Token)
	}
	resp, err := opts.HTTPClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("POST %s: %w", endpoint, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return "", fmt.Errorf("POST %s: %w", endpoint, err)
	}
	if resp.StatusCode != http.StatusCreated {
		return "", &HTTPError{Method: http.MethodPost, URL: endpoint, StatusCode: resp.StatusCode, Body: truncate(string(body), 200)}
	}
	location := ""
	if loc := resp.Header.Get("Location"); loc != "" {
		if base, err := url.Parse(endpoint); err == nil {
			if ref, err := base.Parse(loc); err == nil {
				location = ref.String()
			}
		}
	}
	s.remoteCandidates.Store(int32(strings.Count(string(body), "a=candidate:")))
	if err := s.pc.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeAnswer, SDP: string(body)}); err != nil {
		return "", fmt.Errorf("set the answer: %w", err)
	}
	if location != "" {
		s.setHangup(func(ctx context.Context) error { return deleteResource(ctx, opts, location) })
	}
	return location, nil
}

// deleteResource ends a WHIP or WHEP session.
func deleteResource(ctx context.Context, opts Options, location string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, location, nil)
	if err != nil {
		return err
	}
	if opts.Token != "" {
		req.Header.Set("Authorization", "Bearer "+opts.Token)
	}
	resp, err := opts.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("DELETE %s: %w", location, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		return &HTTPError{Method: http.MethodDelete, URL: location, StatusCode: resp.StatusCode}
	}
	return nil
}

func truncate(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
