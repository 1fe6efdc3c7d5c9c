//go:build pprof

package main

// Profiling build (go build -tags pprof ./cmd/colony): with
// COLONY_PPROF_ADDR set (a loopback address), net/http/pprof is served
// there for the life of the process. Never in release builds.

import (
	"log/slog"
	"net/http"
	_ "net/http/pprof" // registers /debug/pprof on http.DefaultServeMux
	"os"
)

func init() {
	addr := os.Getenv("COLONY_PPROF_ADDR")
	if addr == "" {
		return
	}
	go func() {
		slog.Warn("pprof served (profiling build)", "addr", addr, "err", http.ListenAndServe(addr, nil))
	}()
}
