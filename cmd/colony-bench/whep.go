package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/pion/webrtc/v4"
)

// whepViewer plays a stream over WHEP (IETF WebRTC-HTTP Egress Protocol):
// POST an SDP offer, get 201 with the answer and the session's Location,
// DELETE it at the end. ICE candidates travel in the SDP (no trickle).
type whepViewer struct {
	url    string
	client *http.Client
	stats  *viewerStats
	rtc    *rtcShared
	// noDelete: leave without deleting the session, only closing the
	// connection (DTLS close_notify), as a browser tab that is closed may.
	noDelete bool
}

// Run plays until ctx ends or the connection fails.
func (v *whepViewer) Run(ctx context.Context) error {
	pc, arrivals, err := newRTCPeerConnection(v.rtc)
	if err != nil {
		return err
	}
	recv := newRTCReceiver(pc, arrivals, v.stats, nil)
	defer recv.close()
	if err := addRecvTransceivers(pc); err != nil {
		return err
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return err
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return nil
	}
	answer, location, err := v.post(ctx, pc.LocalDescription().SDP)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	if !v.noDelete {
		defer v.teardown(location)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		return fmt.Errorf("whep answer: %w", err)
	}
	select {
	case <-ctx.Done():
		return nil
	case <-recv.failed:
		return recv.failure()
	}
}

// post sends the offer until the server takes it (the stream may not be
// live yet) and returns the answer and the session URL.
func (v *whepViewer) post(ctx context.Context, offer string) (answer, location string, err error) {
	for {
		answer, location, err = v.postOnce(ctx, offer)
		var se *statusError
		if err == nil || ctx.Err() != nil || errors.As(err, &se) && se.Code != http.StatusNotFound {
			return answer, location, err
		}
		v.stats.retrying(err)
		if !sleepCtx(ctx, 500*time.Millisecond) {
			return "", "", ctx.Err()
		}
	}
}

func (v *whepViewer) postOnce(ctx context.Context, offer string) (answer, location string, err error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, v.url, bytes.NewReader([]byte(offer)))
	if err != nil {
		return "", "", err
	}
	req.Header.Set("Content-Type", "application/sdp")
	resp, err := v.client.Do(req)
	if err != nil {
		return "", "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", "", err
	}
	if resp.StatusCode != http.StatusCreated {
		return "", "", fmt.Errorf("whep: %w", &statusError{Method: http.MethodPost, Code: resp.StatusCode, URL: v.url, Reason: bodyReason(body)})
	}
	if ct := resp.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/sdp") {
		return "", "", fmt.Errorf("whep POST: answer of type %q, want application/sdp", ct)
	}
	loc := resp.Header.Get("Location")
	if loc == "" {
		return "", "", errors.New("whep POST: 201 without Location")
	}
	base, _ := url.Parse(v.url)
	l, err := resolve(base, loc)
	if err != nil {
		return "", "", fmt.Errorf("whep Location %q: %w", loc, err)
	}
	return string(body), l.String(), nil
}

// teardown deletes the session, as a player leaving does.
func (v *whepViewer) teardown(location string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, location, nil)
	if err != nil {
		return
	}
	if resp, err := v.client.Do(req); err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}
