// Package certfile serves a TLS certificate from PEM files, read again
// when they change, so that a renewal (certbot, an ACME client, a copied
// bundle) takes effect without a restart, as Ant Media's enable_ssl.sh
// renewals expect.
//
// The files are checked at most once every CheckEvery, by the handshake
// that finds the last check that old (a stat of each: size and
// modification time), so there is no goroutine to own. A renewal that
// does not load (a key that does not match, a half-written file) is
// logged and the certificate in use is kept; the next check tries again.
package certfile

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// CheckEvery is how often, at most, the files are looked at again.
const CheckEvery = 10 * time.Second

// ErrFiles says what is wrong with the certificate files.
var ErrFiles = errors.New("TLS certificate files")

// Source is a certificate and key from two PEM files.
type Source struct {
	certFile, keyFile string
	log               *slog.Logger
	now               func() time.Time

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   stamp     // of the files cert was read from
	checked time.Time // when the files were last looked at
}

// stamp identifies a version of the two files.
type stamp struct {
	certSize, keySize int64
	certMod, keyMod   time.Time
}

// Load reads the certificate (a chain, leaf first) and its key; an error
// wraps ErrFiles.
func Load(certFile, keyFile string, log *slog.Logger) (*Source, error) {
	return load(certFile, keyFile, log, time.Now)
}

func load(certFile, keyFile string, log *slog.Logger, now func() time.Time) (*Source, error) {
	if certFile == "" || keyFile == "" {
		return nil, fmt.Errorf("%w: both a certificate file and a key file are needed", ErrFiles)
	}
	s := &Source{certFile: certFile, keyFile: keyFile, log: log, now: now}
	st, err := s.stat()
	if err != nil {
		return nil, err
	}
	cert, err := s.read()
	if err != nil {
		return nil, err
	}
	s.cert, s.stamp, s.checked = cert, st, now()
	s.logLoaded("TLS certificate loaded", cert)
	return s, nil
}

func (s *Source) stat() (stamp, error) {
	c, err := os.Stat(s.certFile)
	if err != nil {
		return stamp{}, fmt.Errorf("%w: %w", ErrFiles, err)
	}
	k, err := os.Stat(s.keyFile)
	if err != nil {
		return stamp{}, fmt.Errorf("%w: %w", ErrFiles, err)
	}
	return stamp{certSize: c.Size(), keySize: k.Size(), certMod: c.ModTime(), keyMod: k.ModTime()}, nil
}

func (s *Source) read() (*tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(s.certFile, s.keyFile)
	if err != nil {
		return nil, fmt.Errorf("%w: %s and %s: %w", ErrFiles, s.certFile, s.keyFile, err)
	}
	if cert.Leaf == nil {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrFiles, s.certFile, err)
		}
	}
	return &cert, nil
}

func (s *Source) logLoaded(msg string, c *tls.Certificate) {
	level := slog.LevelInfo
	if s.now().After(c.Leaf.NotAfter) {
		level = slog.LevelWarn
		msg += " (expired)"
	}
	s.log.Log(context.Background(), level, msg, "file", s.certFile, "subject", c.Leaf.Subject.String(), "dns", c.Leaf.DNSNames, "not_after", c.Leaf.NotAfter.UTC())
}

// GetCertificate is tls.Config's: the certificate in use, read again
// first when the files have changed since and CheckEvery has passed.
func (s *Source) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now := s.now(); now.Sub(s.checked) >= CheckEvery {
		s.checked = now
		s.reload()
	}
	return s.cert, nil
}

// reload reads the files if they changed; s.mu is held.
func (s *Source) reload() {
	st, err := s.stat()
	if err != nil {
		s.log.Error("TLS certificate files unreadable: keeping the certificate in use", "err", err)
		return
	}
	if st == s.stamp {
		return
	}
	cert, err := s.read()
	if err != nil {
		s.log.Error("TLS certificate files changed but do not load: keeping the certificate in use", "err", err)
		return
	}
	s.cert, s.stamp = cert, st
	s.logLoaded("TLS certificate reloaded", cert)
}

// NotAfter is when the certificate in use expires.
func (s *Source) NotAfter() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cert.Leaf.NotAfter
}
