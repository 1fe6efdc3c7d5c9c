package mongotest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/colony-live/colony/internal/syncbuf"
)

// UpstreamBinaryEnv names an environment variable that, when set, is the
// path of FerretDB's own command to run instead of the repository's
// bin/ferretdb-upstream.
const UpstreamBinaryEnv = "COLONY_FERRETDB_UPSTREAM_BIN"

// AuthServer is FerretDB's own command (SQLite backend, loopback, its own
// state directory) with SCRAM authentication on and one user in the admin
// database, as a MongoDB deployment's administrator is set up. The
// embedded FerretDB of New has no authentication.
type AuthServer struct {
	addr   string
	cmd    *exec.Cmd
	exited chan struct{}
	stderr *syncbuf.Buffer
}

// NewAuth builds bin/ferretdb-upstream if it is missing, starts it on a
// free loopback port with user (password) in the admin database, and stops
// it when t ends.
func NewAuth(t testing.TB, user, password string) *AuthServer {
	t.Helper()
	bin := UpstreamBinary(t)
	dir := t.TempDir()
	addr := FreePort(t)
	cmd := exec.Command(bin,
		"--handler=sqlite", "--sqlite-url=file:"+filepath.ToSlash(dir)+"/", "--state-dir="+dir,
		"--listen-addr="+addr, "--debug-addr=-", "--telemetry=disable", "--log-level=warn",
		"--test-enable-new-auth", "--setup-database=admin", "--setup-username="+user)
	// The password goes through the environment, not the command line
	// that ps shows.
	cmd.Env = append(os.Environ(), "FERRETDB_SETUP_PASSWORD="+password)
	s := &AuthServer{addr: addr, cmd: cmd, exited: make(chan struct{}), stderr: &syncbuf.Buffer{Limit: stderrLimit}}
	cmd.Stdout, cmd.Stderr = s.stderr, s.stderr
	setProcAttr(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatalf("mongotest: start %s: %v", bin, err)
	}
	go func() {
		_ = cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(stopTimeout):
			_ = cmd.Process.Kill()
			<-s.exited
			t.Errorf("mongotest: ferretdb-upstream did not stop within %v; killed it", stopTimeout)
		}
	})
	if err := s.waitListening(); err != nil {
		t.Fatalf("mongotest: %v", err)
	}
	return s
}

// Addr is the server's host:port.
func (s *AuthServer) Addr() string { return s.addr }

// waitListening waits until the server accepts connections.
func (s *AuthServer) waitListening() error {
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return fmt.Errorf("ferretdb-upstream on %s exited at start: %s", s.addr, s.stderr.String())
		default:
		}
		c, err := net.DialTimeout("tcp", s.addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("ferretdb-upstream on %s not listening after %v: %s", s.addr, startTimeout, s.stderr.String())
}

// UpstreamBinary returns FerretDB's own command: $COLONY_FERRETDB_UPSTREAM_BIN,
// or the repository's bin/ferretdb-upstream, built by
// scripts/ferretdb/build-upstream.sh (as `make ferretdb` does) if it is
// missing or older than that script.
func UpstreamBinary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(UpstreamBinaryEnv); p != "" {
		return p
	}
	root, err := repoRoot()
	if err != nil {
		t.Fatalf("mongotest: %v", err)
	}
	bin := filepath.Join(root, "bin", "ferretdb-upstream")
	script := filepath.Join(root, "scripts", "ferretdb", "build-upstream.sh")
	if bi, err := os.Stat(bin); err == nil {
		if si, err := os.Stat(script); err == nil && !si.ModTime().After(bi.ModTime()) {
			return bin
		}
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "bash", script, bin).CombinedOutput()
	if err != nil {
		t.Fatalf("mongotest: build %s: %v\n%s", bin, err, tail(out))
	}
	t.Logf("mongotest: built %s in %v", bin, time.Since(start).Round(time.Second))
	return bin
}
