package certfile

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/colony-live/colony/adapters/certfile/certfiletest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	a, b := certfiletest.New(t, 1, time.Now().Add(time.Hour)), certfiletest.New(t, 2, time.Now().Add(time.Hour))
	certFile, keyFile := a.Write(t, dir, time.Now())
	other := filepath.Join(dir, "other-key.pem")
	if err := os.WriteFile(other, b.Key, 0o600); err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not PEM"), 0o600); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	for name, tc := range map[string][2]string{
		"no key file named":      {certFile, ""},
		"missing certificate":    {filepath.Join(dir, "none.pem"), keyFile},
		"missing key":            {certFile, filepath.Join(dir, "none.pem")},
		"key of another":         {certFile, other},
		"not PEM":                {garbage, keyFile},
		"certificate as key":     {certFile, certFile},
		"key as the certificate": {keyFile, keyFile},
	} {
		t.Run(name, func(t *testing.T) {
			if s, err := Load(tc[0], tc[1], log); !errors.Is(err, ErrFiles) || s != nil {
				t.Fatalf("Load = %v, %v; want ErrFiles", s, err)
			}
		})
	}
}

// TestReload: a renewal is served once CheckEvery has passed since the
// last check, not before; a renewal that does not load keeps the
// certificate in use, and a good one after it is taken.
func TestReload(t *testing.T) {
	dir := t.TempDir()
	clock := time.Now()
	now := func() time.Time { return clock }
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	mod := time.Now().Add(-time.Hour)
	a := certfiletest.New(t, 1, time.Now().Add(90*24*time.Hour))
	certFile, keyFile := a.Write(t, dir, mod)
	s, err := load(certFile, keyFile, log, now)
	if err != nil {
		t.Fatal(err)
	}
	serial := func() int64 {
		c, err := s.GetCertificate(nil)
		if err != nil {
			t.Fatal(err)
		}
		return c.Leaf.SerialNumber.Int64()
	}
	if got := serial(); got != 1 {
		t.Fatalf("serial %d, want 1", got)
	}

	b := certfiletest.New(t, 2, time.Now().Add(90*24*time.Hour))
	b.Write(t, dir, mod.Add(time.Minute))
	clock = clock.Add(CheckEvery / 2)
	if got := serial(); got != 1 {
		t.Fatalf("renewal served %d before CheckEvery", got)
	}
	clock = clock.Add(CheckEvery)
	if got := serial(); got != 2 {
		t.Fatalf("serial %d after the renewal, want 2", got)
	}
	if !s.NotAfter().Equal(b.X509.NotAfter) {
		t.Fatalf("NotAfter %v, want the renewal's %v", s.NotAfter(), b.X509.NotAfter)
	}

	// Half a renewal: the new certificate, the old key.
	c := certfiletest.New(t, 3, time.Now().Add(90*24*time.Hour))
	certfiletest.WriteFile(t, certFile, c.Cert, mod.Add(2*time.Minute))
	clock = clock.Add(CheckEvery)
	if got := serial(); got != 2 {
		t.Fatalf("serial %d after a renewal that does not load, want 2 kept", got)
	}
	if !strings.Contains(logs.String(), "do not load") {
		t.Fatalf("no error logged for the broken renewal:\n%s", logs.String())
	}
	c.Write(t, dir, mod.Add(3*time.Minute))
	clock = clock.Add(CheckEvery)
	if got := serial(); got != 3 {
		t.Fatalf("serial %d once the renewal is whole, want 3", got)
	}

	// Files gone: the certificate in use stays.
	if err := os.Remove(keyFile); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(CheckEvery)
	if got := serial(); got != 3 {
		t.Fatalf("serial %d with the key file gone, want 3 kept", got)
	}
}

func TestExpiredWarns(t *testing.T) {
	var logs syncBuffer
	p := certfiletest.New(t, 1, time.Now().Add(-time.Minute))
	certFile, keyFile := p.Write(t, t.TempDir(), time.Now())
	if _, err := Load(certFile, keyFile, slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "expired") {
		t.Fatalf("an expired certificate loaded without a warning:\n%s", logs.String())
	}
}

// TestServesOverTLS: a client that trusts the first certificate, then the
// renewed one, completes handshakes with a tls.Config using the Source.
func TestServesOverTLS(t *testing.T) {
	dir := t.TempDir()
	clock := time.Now()
	a := certfiletest.New(t, 1, time.Now().Add(time.Hour))
	certFile, keyFile := a.Write(t, dir, time.Now().Add(-time.Hour))
	s, err := load(certFile, keyFile, slog.New(slog.DiscardHandler), func() time.Time { return clock })
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{GetCertificate: s.GetCertificate})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	defer wg.Wait() // after the listener's Close
	defer ln.Close()
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.(*tls.Conn).Handshake()
			_ = c.Close()
		}
	})
	handshake := func(trust certfiletest.Pair) error {
		pool := x509.NewCertPool()
		pool.AddCert(trust.X509)
		c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "colony.test"})
		if err == nil {
			_ = c.Close()
		}
		return err
	}
	if err := handshake(a); err != nil {
		t.Fatalf("handshake with the first certificate: %v", err)
	}
	b := certfiletest.New(t, 2, time.Now().Add(time.Hour))
	b.Write(t, dir, time.Now())
	clock = clock.Add(CheckEvery)
	if err := handshake(b); err != nil {
		t.Fatalf("handshake with the renewed certificate: %v", err)
	}
	if err := handshake(a); err == nil {
		t.Fatal("the first certificate is still served after the renewal")
	}
}
