//go:build e2e

package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/colony-live/colony/adapters/mongo/mongotest"
)

// TestModeClusterAuth: `colony mode cluster host user password` against a
// registry with authentication (the user in admin, as MongoDB deployments
// have it): a wrong password or none fails clearly, leaves the config as
// it was and never prints the password; the right one joins, and a node
// started with that config registers.
func TestModeClusterAuth(t *testing.T) {
	const user, password, wrong = "colony", "Gr0up-s3cret!", "wr0ng-pw-42"
	srv := mongotest.NewAuth(t, user, password)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "colony.yaml")
	orig := "mode: standalone\nhttp_addr: \":5999\"\n"
	if err := os.WriteFile(cfgPath, []byte(orig), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := colonyBin(t)
	for name, args := range map[string][]string{
		"wrong password": {srv.Addr(), user, wrong},
		"unknown user":   {srv.Addr(), "intruder", password},
		"no credentials": {srv.Addr()},
	} {
		cmd := append([]string{"mode", "cluster", "--config", cfgPath, "--timeout", "5s"}, args...)
		out, err := exec.Command(bin, cmd...).CombinedOutput()
		if err == nil {
			t.Fatalf("%s: mode cluster succeeded: %s", name, out)
		}
		s := string(out)
		if !strings.Contains(s, "refused the credentials") || !strings.Contains(s, "authentication failed") || !strings.Contains(s, "left unchanged") {
			t.Fatalf("%s: unclear error: %s", name, s)
		}
		if strings.Contains(s, password) || strings.Contains(s, wrong) || strings.Contains(s, "Gr0up") {
			t.Fatalf("%s: the output shows a password: %s", name, s)
		}
		if b, _ := os.ReadFile(cfgPath); string(b) != orig {
			t.Fatalf("%s: config changed after a failed mode switch:\n%s", name, b)
		}
	}

	out, err := exec.Command(bin, "mode", "cluster", "--config", cfgPath, "--timeout", "5s", srv.Addr(), user, password).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "standalone -> cluster") {
		t.Fatalf("mode cluster with the right password: %v\n%s", err, out)
	}
	if strings.Contains(string(out), password) {
		t.Fatalf("mode cluster printed the password: %s", out)
	}
	cfg, err := loadConfig(cfgPath)
	if err != nil || cfg.Mode != "cluster" || len(cfg.ClusterSecret) < 32 || !strings.Contains(cfg.Mongo.URI, srv.Addr()) {
		t.Fatalf("config after mode cluster: %+v, %v", cfg, err)
	}
	b, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	n := startNode(t, "authnode", nodeOpts{config: string(b), args: []string{"--node-id", "authnode", "--role", "both"}})
	// The registry, read with the same credentials by the CLI, lists it.
	// (Not through REST: the config that mode writes has an explicit empty
	// rest.allowed_cidrs, which lets no address in.)
	eventually(t, 15*time.Second, "authnode registered", func() error {
		out, err := exec.Command(bin, "cluster", "nodes", "--config", cfgPath).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "authnode") || !strings.Contains(string(out), "alive") {
			return fmt.Errorf("colony cluster nodes: %v: %s", err, out)
		}
		if strings.Contains(string(out), password) {
			t.Fatalf("colony cluster nodes printed the password: %s", out)
		}
		return nil
	})
	if strings.Contains(n.log.String(), password) {
		t.Fatal("the node logged the registry password")
	}
}
