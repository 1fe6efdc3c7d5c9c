package balancer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ValidateFunc checks the configuration file at path with the balancer's
// own parser; a refusal is a *ValidationError.
type ValidateFunc func(ctx context.Context, path string) error

// ReloadFunc makes the running balancer read its configuration file again.
type ReloadFunc func(ctx context.Context) error

// commandTimeout bounds a check or reload command.
const commandTimeout = 30 * time.Second

// StreamModulePaths are where distributions put nginx's dynamic stream
// module (Debian and Ubuntu's libnginx-mod-stream first).
var StreamModulePaths = []string{
	"/usr/lib/nginx/modules/ngx_stream_module.so",
	"/usr/lib64/nginx/modules/ngx_stream_module.so",
	"/usr/share/nginx/modules/ngx_stream_module.so",
	"/etc/nginx/modules/ngx_stream_module.so",
}

// FindStreamModule returns the first of paths that is a file, or "" (nginx
// then needs the stream module built in).
func FindStreamModule(paths []string) string {
	for _, p := range paths {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p
		}
	}
	return ""
}

// NginxArgs are the flags that point nginx at prefix and config, with the
// start-up error log in the prefix too (so nothing is written to /var/log).
func NginxArgs(prefix, config string) []string {
	return []string{"-p", prefix, "-c", config, "-e", filepath.Join(prefix, "error.log")}
}

// Validator is the configuration check of kind: `nginx -t` or `haproxy -c`.
// bin is the balancer's executable ("nginx" or "haproxy" on PATH when empty).
func Validator(k Kind, bin, prefix string) ValidateFunc {
	bin = binOr(k, bin)
	return func(ctx context.Context, path string) error {
		args := []string{"-c", "-f", path}
		if k == Nginx {
			args = append([]string{"-t", "-q"}, NginxArgs(prefix, path)...)
		}
		out, err := run(ctx, bin, args...)
		if err != nil {
			return &ValidationError{Output: out, Err: err}
		}
		return nil
	}
}

// Reloader reloads the running balancer of kind: `nginx -s reload` (the
// master's pid is in the prefix), or SIGUSR2 to HAProxy's master (the
// rendered configuration runs HAProxy in master-worker mode and writes the
// master's pid to the prefix).
func Reloader(k Kind, bin, prefix, config string) ReloadFunc {
	bin = binOr(k, bin)
	if k == HAProxy {
		pidFile := filepath.Join(prefix, "haproxy.pid")
		return func(context.Context) error { return signalPidFile(pidFile, syscall.SIGUSR2) }
	}
	return func(ctx context.Context) error {
		out, err := run(ctx, bin, append(NginxArgs(prefix, config), "-s", "reload")...)
		if err != nil {
			return fmt.Errorf("nginx -s reload: %w: %s", err, strings.TrimSpace(out))
		}
		return nil
	}
}

// ShellReloader runs command with sh -c (for example "systemctl reload nginx").
func ShellReloader(command string) ReloadFunc {
	return func(ctx context.Context) error {
		out, err := run(ctx, "sh", "-c", command)
		if err != nil {
			return fmt.Errorf("%s: %w: %s", command, err, strings.TrimSpace(out))
		}
		return nil
	}
}

func binOr(k Kind, bin string) string {
	if bin != "" {
		return bin
	}
	return string(k)
}

// signalPidFile sends sig to the process whose pid is in path.
func signalPidFile(path string, sig syscall.Signal) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("balancer not running: no pid file %s", path)
	}
	if err != nil {
		return err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return fmt.Errorf("pid file %s holds no pid: %q", path, b)
	}
	if err := syscall.Kill(pid, sig); err != nil {
		return fmt.Errorf("signal balancer pid %d (from %s): %w", pid, path, err)
	}
	return nil
}

func run(ctx context.Context, bin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}
