// Package mongotest runs a throwaway MongoDB-wire server (FerretDB on SQLite,
// built from scripts/ferretdb) on loopback for tests.
package mongotest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/colony-live/colony/internal/syncbuf"
)

// BinaryEnv names an environment variable that, when set, is the path of the
// ferretdb binary to run instead of the repository's bin/ferretdb.
const BinaryEnv = "COLONY_FERRETDB_BIN"

// Timeouts of the helper.
const (
	buildTimeout = 8 * time.Minute // a cold build of FerretDB takes minutes
	startTimeout = 30 * time.Second
	stopTimeout  = 10 * time.Second
)

// readyPrefix starts the line scripts/ferretdb prints once it listens.
const readyPrefix = "ferretdb ready "

// Server is one FerretDB process with its own state directory. Stop and
// Start restart it on the same port with the same data, to simulate the
// database going away and coming back.
type Server struct {
	bin      string
	stateDir string

	mu     sync.Mutex
	addr   string // 127.0.0.1:port, fixed by the first start
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been waited for
	stderr *syncbuf.Buffer
	dbs    int
}

// New builds bin/ferretdb if it is missing, starts it on a free loopback
// port with a fresh state directory, and stops it when t ends.
func New(t testing.TB) *Server {
	t.Helper()
	s := &Server{bin: Binary(t), stateDir: t.TempDir()}
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Errorf("mongotest: stop ferretdb: %v", err)
		}
	})
	s.Start(t)
	return s
}

// URI is the server's connection string, valid across restarts.
func (s *Server) URI() string { return "mongodb://" + s.Addr() + "/" }

// Addr is the server's host:port.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Database returns a database name not yet handed out by this server, so that
// each test works on empty collections.
func (s *Server) Database() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dbs++
	return fmt.Sprintf("test_%04d", s.dbs)
}

// Start starts the server (on its first port, with its data); it does
// nothing if the server is running.
func (s *Server) Start(t testing.TB) {
	t.Helper()
	if err := s.start(); err != nil {
		t.Fatalf("mongotest: %v", err)
	}
}

// Stop stops the server gracefully, keeping its data; it does nothing if
// the server is stopped.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	if err := s.stop(); err != nil {
		t.Fatalf("mongotest: %v", err)
	}
}

func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		select {
		case <-s.exited: // died on its own: start it again
			s.cmd = nil
		default:
			return nil
		}
	}
	listen := s.addr
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	ready := make(chan string, 1)
	cmd := exec.Command(s.bin, "-listen", listen, "-state-dir", s.stateDir)
	cmd.Stdout = &readyWriter{ready: ready}
	stderr := &syncbuf.Buffer{Limit: stderrLimit}
	cmd.Stderr = stderr
	setProcAttr(cmd)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.bin, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	s.cmd, s.exited, s.stderr = cmd, exited, stderr

	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	select {
	case uri := <-ready:
		u, err := url.Parse(uri)
		if err != nil {
			s.killLocked()
			return fmt.Errorf("ferretdb printed a bad URI %q: %w", uri, err)
		}
		s.addr = u.Host
		return nil
	case <-exited:
		s.cmd = nil
		return fmt.Errorf("ferretdb on %s exited at start: %s", listen, stderr.String())
	case <-timer.C:
		s.killLocked()
		return fmt.Errorf("ferretdb on %s not ready after %v: %s", listen, startTimeout, stderr.String())
	}
}

func (s *Server) stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return nil
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		s.cmd = nil
		return nil
	case <-time.After(stopTimeout):
		s.killLocked()
		return fmt.Errorf("ferretdb did not stop within %v; killed it", stopTimeout)
	}
}

// killLocked kills the process and waits for it; s.mu is held.
func (s *Server) killLocked() {
	_ = s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

// readyWriter takes the server's stdout and sends the URI of its ready line.
type readyWriter struct {
	buf   []byte
	sent  bool
	ready chan<- string
}

func (w *readyWriter) Write(p []byte) (int, error) {
	if w.sent {
		return len(p), nil
	}
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := strings.TrimSpace(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
		if uri, ok := strings.CutPrefix(line, readyPrefix); ok {
			w.sent = true
			w.ready <- uri
			return len(p), nil
		}
	}
}

// stderrLimit bounds the server's stderr kept for diagnosing a failure.
const stderrLimit = 64 << 10

// Binary returns the ferretdb binary to run: $COLONY_FERRETDB_BIN, or the
// repository's bin/ferretdb, built from scripts/ferretdb if it is missing or
// older than a file there.
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(BinaryEnv); p != "" {
		return p
	}
	root, err := repoRoot()
	if err != nil {
		t.Fatalf("mongotest: %v", err)
	}
	bin := filepath.Join(root, "bin", "ferretdb")
	src := filepath.Join(root, "scripts", "ferretdb")
	if fresh(bin, src) {
		return bin
	}
	start := time.Now()
	if err := build(root, bin); err != nil {
		t.Fatalf("mongotest: build %s: %v", bin, err)
	}
	t.Logf("mongotest: built %s in %v", bin, time.Since(start).Round(time.Second))
	return bin
}

// fresh reports whether bin exists and is newer than every file in src.
func fresh(bin, src string) bool {
	bi, err := os.Stat(bin)
	if err != nil {
		return false
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		return false
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || info.ModTime().After(bi.ModTime()) {
			return false
		}
	}
	return true
}

// repoRoot walks up from the working directory to the directory holding
// scripts/ferretdb/go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "scripts", "ferretdb", "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no scripts/ferretdb/go.mod above the working directory")
		}
		dir = parent
	}
}

// build compiles scripts/ferretdb into bin, through a temporary file renamed
// into place so that concurrent builds (parallel test packages) never expose
// a partial binary.
func build(root, bin string) error {
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		return err
	}
	tmp := fmt.Sprintf("%s.tmp-%d", bin, os.Getpid())
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", tmp, ".")
	cmd.Dir = filepath.Join(root, "scripts", "ferretdb")
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-buildvcs=false")
	out, err := cmd.CombinedOutput()
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("go build in %s: %w\n%s", cmd.Dir, err, tail(out))
	}
	return os.Rename(tmp, bin)
}

// tail returns the last lines of a command's output.
func tail(out []byte) string {
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return strings.Join(lines, "\n")
}

// FreePort returns a loopback address nothing listens on (at the moment of
// the call), for tests that need a refused connection.
func FreePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("mongotest: %v", err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatalf("mongotest: %v", err)
	}
	return addr
}
