//go:build e2e

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestLBInstallScript runs scripts/install.sh into a scratch root twice and
// checks what it writes, that a second run changes nothing and keeps the
// config, and that it creates no user and touches no systemd under --root.
func TestLBInstallScript(t *testing.T) {
	script := filepath.Join(repoRoot(t), "scripts", "install.sh")
	root := t.TempDir()
	binDir := t.TempDir()
	bin := filepath.Join(binDir, "colony")
	src, err := os.ReadFile(colonyBin(t))
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string][]byte{"colony": src, "colony-transcoder-fake": []byte("#!/bin/sh\nexit 0\n"),
		"colony-transcoder-fake.sha256": []byte("x\n")} {
		if err := os.WriteFile(filepath.Join(binDir, name), content, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	hadUser := exec.Command("id", "colony").Run() == nil
	install := func() string {
		t.Helper()
		out, err := exec.Command("bash", script, "--root", root, "--bin", bin).CombinedOutput()
		if err != nil {
			t.Fatalf("install.sh --root: %v\n%s", err, out)
		}
		return string(out)
	}

	help, err := exec.Command("bash", script, "--help").CombinedOutput()
	for _, want := range []string{"systemd", "system user", "limits", "/usr/local/colony", "--root", "idempotent"} {
		if err != nil || !strings.Contains(string(help), want) {
			t.Fatalf("install.sh --help (%v) does not mention %q:\n%s", err, want, help)
		}
	}
	out := install()
	prefix := filepath.Join(root, "usr/local/colony")
	for path, mode := range map[string]os.FileMode{
		"colony": 0o755, "plugins/colony-transcoder-fake": 0o755, "change_server_mode.sh": 0o755, "colony.yaml": 0o640,
	} {
		fi, err := os.Stat(filepath.Join(prefix, path))
		if err != nil || fi.Mode().Perm() != mode {
			t.Fatalf("%s: %v, mode %v, want %v\n%s", path, err, fi.Mode().Perm(), mode, out)
		}
	}
	if _, err := os.Stat(filepath.Join(prefix, "plugins/colony-transcoder-fake.sha256")); err == nil {
		t.Fatal("a checksum file beside a plugin was installed as a plugin")
	}
	if got, _ := os.ReadFile(filepath.Join(prefix, "colony")); string(got) != string(src) {
		t.Fatal("the installed binary differs from the source")
	}
	if target, _ := os.Readlink(filepath.Join(root, "usr/local/bin/colony")); target != "/usr/local/colony/colony" {
		t.Fatalf("/usr/local/bin/colony -> %q", target)
	}
	unit, err := os.ReadFile(filepath.Join(root, "etc/systemd/system/colony.service"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ExecStart=/usr/local/colony/colony run --config /usr/local/colony/colony.yaml",
		"User=colony", "LimitNOFILE=1048576", "KillSignal=SIGTERM", "WantedBy=multi-user.target", "ReadWritePaths=/usr/local/colony"} {
		if !strings.Contains(string(unit), want) {
			t.Fatalf("colony.service lacks %q:\n%s", want, unit)
		}
	}
	if strings.Contains(string(unit), "@PREFIX@") {
		t.Fatalf("colony.service kept a placeholder:\n%s", unit)
	}
	limits, err := os.ReadFile(filepath.Join(root, "etc/security/limits.d/90-colony.conf"))
	if err != nil || !strings.Contains(string(limits), "colony soft nofile 1048576") || !strings.Contains(string(limits), "colony hard nofile 1048576") {
		t.Fatalf("limits: %v\n%s", err, limits)
	}
	cfg, err := loadConfig(filepath.Join(prefix, "colony.yaml"))
	if err != nil || cfg.Mode != "standalone" || cfg.DataDir != "/usr/local/colony/data" || cfg.HTTPAddr != ":5080" || cfg.RelayAddr != ":5000" {
		t.Fatalf("default config: %+v, %v", cfg, err)
	}
	if !strings.Contains(out, "skipped creating the colony user") {
		t.Fatalf("install.sh --root did not say it skipped the user:\n%s", out)
	}
	if !hadUser && exec.Command("id", "colony").Run() == nil {
		t.Fatal("install.sh --root created the colony user")
	}

	// Again: nothing changes, and an edited config is kept.
	edited := "mode: standalone\nhttp_addr: \":6080\"\n"
	if err := os.WriteFile(filepath.Join(prefix, "colony.yaml"), []byte(edited), 0o640); err != nil {
		t.Fatal(err)
	}
	out = install()
	if strings.Contains(out, "install.sh: installed ") || !strings.Contains(out, "kept "+prefix+"/colony.yaml") {
		t.Fatalf("second install.sh run changed files:\n%s", out)
	}
	if b, _ := os.ReadFile(filepath.Join(prefix, "colony.yaml")); string(b) != edited {
		t.Fatalf("the edited config was replaced:\n%s", b)
	}
	// A new binary is an upgrade.
	if err := os.WriteFile(bin, append(src, '\n'), 0o755); err != nil {
		t.Fatal(err)
	}
	if out = install(); !strings.Contains(out, "install.sh: installed "+prefix+"/colony\n") || strings.Count(out, "install.sh: installed ") != 1 {
		t.Fatalf("upgrade run:\n%s", out)
	}
}
