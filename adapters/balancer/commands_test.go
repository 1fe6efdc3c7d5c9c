package balancer

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/colony-live/colony/adapters/certfile/certfiletest"
)

// lookBalancer returns kind's executable; a machine without it fails the
// test (make test-deps installs both).
func lookBalancer(t *testing.T, k Kind) string {
	t.Helper()
	p, err := exec.LookPath(string(k))
	if err != nil {
		if _, err = os.Stat("/usr/sbin/" + string(k)); err != nil {
			t.Fatalf("%s is not installed (make test-deps installs it)", k)
		}
		p = "/usr/sbin/" + string(k)
	}
	return p
}

// TestRealBalancersAcceptTheRenders runs nginx -t and haproxy -c on every
// kind of render, and shows that their refusals come back as ValidationError.
func TestRealBalancersAcceptTheRenders(t *testing.T) {
	sets := map[string][]GroupListen{
		"plain":  nil,
		"groups": {{Group: "eu", HTTPListen: "127.0.0.1:18081", RTMPListen: "127.0.0.1:11936"}, {Group: "apac", HTTPListen: "[::1]:18082"}},
		"tls":    nil,
	}
	for _, k := range []Kind{Nginx, HAProxy} {
		for name, groups := range sets {
			t.Run(string(k)+"-"+name, func(t *testing.T) {
				bin := lookBalancer(t, k)
				prefix := t.TempDir()
				cfg := Config{Kind: k, Prefix: prefix, HTTPListen: "127.0.0.1:18080", RTMPListen: "127.0.0.1:11935",
					StreamModule: FindStreamModule(StreamModulePaths), Groups: groups}
				if name == "tls" { // the balancer loads the files to check the config
					cfg.HTTPSListen = "127.0.0.1:18443"
					cfg.TLSCert, cfg.TLSKey = tlsFiles(t, k, prefix)
				}
				nodes := mixedNodes()
				if k == Nginx {
					// nginx resolves names when it loads the config.
					nodes[2].HTTPAddr, nodes[2].RTMPAddr = "localhost:5080", "localhost:11935"
				}
				out, err := Render(cfg, nodes, now)
				if err != nil {
					t.Fatal(err)
				}
				path := filepath.Join(prefix, k.ConfigFile())
				if err := os.WriteFile(path, out, 0o644); err != nil {
					t.Fatal(err)
				}
				check := Validator(k, bin, prefix)
				if err := check(context.Background(), path); err != nil {
					t.Fatalf("%s refused the render: %v\n%s", k, err, out)
				}
				broken := strings.Replace(string(out), "least_conn;", "least_conn", 1)
				if k == HAProxy {
					broken = strings.Replace(string(out), "balance leastconn", "balance sideways", 1)
				}
				if err := os.WriteFile(path, []byte(broken), 0o644); err != nil {
					t.Fatal(err)
				}
				err = check(context.Background(), path)
				var ve *ValidationError
				if !errors.As(err, &ve) || strings.TrimSpace(ve.Output) == "" {
					t.Fatalf("broken config: check gave %v, want a ValidationError with %s's output", err, k)
				}
			})
		}
	}
}

// tlsFiles writes a self-signed certificate and key into dir as kind
// reads them: two files for nginx, one (the chain, then the key) for
// HAProxy.
func tlsFiles(t *testing.T, k Kind, dir string) (cert, key string) {
	t.Helper()
	p := certfiletest.New(t, 1, time.Now().Add(time.Hour))
	if k == HAProxy {
		cert = filepath.Join(dir, "colony.pem")
		certfiletest.WriteFile(t, cert, append(append([]byte{}, p.Cert...), p.Key...), time.Now())
		return cert, ""
	}
	return p.Write(t, dir, time.Now())
}

func TestFindStreamModule(t *testing.T) {
	dir := t.TempDir()
	so := filepath.Join(dir, "ngx_stream_module.so")
	if err := os.WriteFile(so, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if got := FindStreamModule([]string{filepath.Join(dir, "missing.so"), dir, so}); got != so {
		t.Fatalf("FindStreamModule = %q, want %q", got, so)
	}
	if got := FindStreamModule([]string{filepath.Join(dir, "missing.so")}); got != "" {
		t.Fatalf("FindStreamModule = %q, want none", got)
	}
}

func TestHAProxyReloaderSignalsTheMaster(t *testing.T) {
	prefix := t.TempDir()
	reload := Reloader(HAProxy, "", prefix, filepath.Join(prefix, "haproxy.cfg"))
	if err := reload(context.Background()); err == nil || !strings.Contains(err.Error(), "not running") {
		t.Fatalf("reload with no pid file: %v", err)
	}
	master := exec.Command("sleep", "30")
	if err := master.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = master.Process.Kill(); _ = master.Wait() })
	pid := filepath.Join(prefix, "haproxy.pid")
	if err := os.WriteFile(pid, []byte(strconv.Itoa(master.Process.Pid)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	err := master.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGUSR2 {
		t.Fatalf("the master was not sent SIGUSR2: %v", err)
	}
	if err := os.WriteFile(pid, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := reload(context.Background()); err == nil {
		t.Fatal("reload with a garbage pid file succeeded")
	}
}

func TestShellReloader(t *testing.T) {
	if err := ShellReloader("true")(context.Background()); err != nil {
		t.Fatal(err)
	}
	err := ShellReloader("echo cannot reload >&2; exit 3")(context.Background())
	if err == nil || !strings.Contains(err.Error(), "cannot reload") {
		t.Fatalf("failing reload command: %v", err)
	}
}

func TestNginxReloaderReportsAStoppedNginx(t *testing.T) {
	bin := lookBalancer(t, Nginx)
	prefix := t.TempDir()
	path := filepath.Join(prefix, "nginx.conf")
	out, err := Render(Config{Kind: Nginx, Prefix: prefix, HTTPListen: "127.0.0.1:18080", RTMPListen: "-"}, threeNodes(), now)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	err = Reloader(Nginx, bin, prefix, path)(context.Background())
	if err == nil || !strings.Contains(err.Error(), "nginx.pid") {
		t.Fatalf("reload of a stopped nginx: %v", err)
	}
}
