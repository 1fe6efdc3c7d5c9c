// Command ferretdb runs an embedded FerretDB (SQLite backend) on loopback as
// the MongoDB-wire server for Colony's cluster-store tests.
//
// Usage:
//
//	ferretdb -listen 127.0.0.1:27017 -state-dir DIR
//
// With -state-dir empty the data lives in memory. Once it listens it prints
// one line "ferretdb ready mongodb://HOST:PORT/" on stdout (port 0 picks a
// free port, shown there). SIGINT or SIGTERM shut it down.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "ferretdb:", err)
		os.Exit(1)
	}
}

func run() error {
	listen := flag.String("listen", "127.0.0.1:27017", "loopback `address` to listen on (port 0 picks a free one)")
	stateDir := flag.String("state-dir", "", "`directory` for the SQLite files (created if missing); empty keeps data in memory")
	verbose := flag.Bool("v", false, "log at info level instead of warnings only")
	flag.Parse()

	if err := checkLoopback(*listen); err != nil {
		return err
	}
	sqliteURL, err := sqliteURL(*stateDir)
	if err != nil {
		return err
	}

	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: *listen},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: sqliteURL,
	})
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()

	// MongoDBURI blocks until the listener is bound.
	fmt.Printf("ferretdb ready %s\n", f.MongoDBURI())

	return <-done
}

// checkLoopback refuses any listen address that is not a loopback IP.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("-listen %q: %w", addr, err)
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return errors.New("-listen must be a loopback IP such as 127.0.0.1:27017")
	}
	return nil
}

// sqliteURL returns FerretDB's SQLite directory URI for dir, creating dir;
// an empty dir means an in-memory database.
func sqliteURL(dir string) (string, error) {
	if dir == "" {
		return "file:/?mode=memory", nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(abs, 0o750); err != nil {
		return "", err
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs) + "/"}
	return u.String(), nil
}
