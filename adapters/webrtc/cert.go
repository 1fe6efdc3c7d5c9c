package webrtc

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"sync"
	"time"

	pion "github.com/pion/webrtc/v4"
)

// certRenewAfter is how long the node's DTLS certificate serves new
// sessions before the next session gets a fresh one. pion's certificates
// are valid for a month; a session keeps the certificate it started with.
const certRenewAfter = 24 * time.Hour

// certSource hands every new PeerConnection the node's DTLS certificate,
// made once and renewed daily, instead of one generated per connection
// (pion's default: an ECDSA key and a self-signed certificate, a quarter
// of a millisecond of CPU each, which a crowd joining at once pays in
// turn). Browsers check the certificate only against the fingerprint in
// the SDP, which stays right whichever certificate a session has.
type certSource struct {
	mu      sync.Mutex
	now     func() time.Time
	cert    pion.Certificate
	created time.Time
}

func newCertSource(now func() time.Time) (*certSource, error) {
	s := &certSource{now: now}
	if _, err := s.get(); err != nil {
		return nil, err
	}
	return s, nil
}

// get returns the current certificate, first making a new one when the
// current is certRenewAfter old (or there is none).
func (s *certSource) get() (pion.Certificate, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if !s.created.IsZero() && now.Sub(s.created) < certRenewAfter {
		return s.cert, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return pion.Certificate{}, fmt.Errorf("generate DTLS key: %w", err)
	}
	cert, err := pion.GenerateCertificate(key)
	if err != nil {
		return pion.Certificate{}, fmt.Errorf("generate DTLS certificate: %w", err)
	}
	s.cert, s.created = *cert, now
	return s.cert, nil
}
