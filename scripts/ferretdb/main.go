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
//
// FerretDB v1 does not apply a conditional update to a document atomically
// (it reads, then writes by _id), where MongoDB does. Unless
// -serialize-writes=false, clients reach FerretDB through a proxy that lets
// one write command run at a time, so that tests see MongoDB's
// single-document atomicity. FerretDB v1 is therefore not a safe production
// store for code relying on that guarantee.
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
	serialize := flag.Bool("serialize-writes", true, "run one write command at a time (MongoDB's per-document atomicity)")
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

	// With the proxy, FerretDB itself listens on a private loopback port.
	var ln net.Listener
	ferretAddr := *listen
	if *serialize {
		if ln, err = net.Listen("tcp", *listen); err != nil {
			return err
		}
		ferretAddr = "127.0.0.1:0"
	}

	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: ferretAddr},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: sqliteURL,
	})
	if err != nil {
		if ln != nil {
			_ = ln.Close()
		}
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()

	// MongoDBURI blocks until the listener is bound.
	uri := f.MongoDBURI()
	var p *proxy
	if ln != nil {
		backend, err := url.Parse(uri)
		if err != nil {
			return err
		}
		p = newProxy(ln, backend.Host, logger)
		go p.serve()
		uri = "mongodb://" + ln.Addr().String() + "/"
	}
	fmt.Printf("ferretdb ready %s\n", uri)

	<-ctx.Done()
	stop()
	if p != nil {
		p.close() // clients first, then FerretDB
	}
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
