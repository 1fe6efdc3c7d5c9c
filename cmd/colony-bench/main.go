// Command colony-bench is a load harness for live-streaming servers: it
// publishes a clip over RTMP with a send-time stamp in every video frame,
// plays it with many HLS, LL-HLS, WHEP or WebSocket-signalled viewers, and
// reports latency, time to first frame, loss, stalls and CPU.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newApp(os.Stdout, os.Stderr).RunContext(ctx, os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "colony-bench:", err)
		os.Exit(1)
	}
}

func targetFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "rtmp", Usage: "publish the clip to this `URL` (rtmp://HOST:PORT/APP/STREAM); omit if someone else publishes"},
		&cli.StringFlag{Name: "hls", Usage: "HLS playlist `URL` (modes hls, llhls)"},
		&cli.StringFlag{Name: "hls-ref", Usage: "reference HLS playlist `URL` of the same stream (e.g. the origin's when --hls is an edge's): hls and llhls runs also report how much later each segment is listed at --hls"},
		&cli.StringFlag{Name: "whep", Usage: "WHEP endpoint `URL` (mode whep)"},
		&cli.StringFlag{Name: "ws", Usage: "Ant Media WebSocket `URL`, ws://HOST:PORT/APP/websocket (mode ws)"},
		&cli.StringFlag{Name: "stream", Usage: "stream `ID` for ws (default: the last element of --rtmp)"},
		&cli.DurationFlag{Name: "duration", Value: 20 * time.Second, Usage: "measured time per run"},
		&cli.DurationFlag{Name: "warmup", Value: 5 * time.Second, Usage: "time between the last viewer's start and the measurement"},
		&cli.DurationFlag{Name: "ramp", Usage: "time over which viewers join (default 10 ms per viewer, at most 5 s)"},
		&cli.DurationFlag{Name: "lead", Value: 6 * time.Second, Usage: "time between the start of publishing and the first run (lets the server fill its playlists)"},
		&cli.IntFlag{Name: "server-pid", Usage: "report CPU and peak RSS of this `PID` and its descendants"},
		&cli.StringFlag{Name: "server-metrics", Usage: "the server's Prometheus metrics `URL`: each run reports the --server-gauges before the viewers join, at the end of the window and once they have left"},
		&cli.StringSliceFlag{Name: "server-gauges", Value: cli.NewStringSlice("go_goroutines"), Usage: "`NAME`s of the gauges read from --server-metrics (each summed over its labels)"},
		&cli.DurationFlag{Name: "settle", Value: 30 * time.Second, Usage: "how long after the viewers leave the gauges may take to come back to their values before the run"},
		&cli.StringFlag{Name: "clip", Value: "testdata/clip-720p30.mp4", Usage: "MP4 `FILE` (H.264, optional AAC) to publish"},
		&cli.StringFlag{Name: "label", Usage: "name of the target in the results (e.g. colony, nginx)"},
		&cli.BoolFlag{Name: "viewer-gro", Usage: "WebRTC viewers' sockets take UDP GRO (Linux): a server's GSO batch reaches a viewer as one read, which it splits. On loopback the sender's system call does the receiving too, so this keeps most of the viewers' receive work off the server's CPU figure"},
		&cli.BoolFlag{Name: "json", Usage: "print one JSON line per run on stdout (the table then goes to stderr)"},
		&cli.BoolFlag{Name: "verbose", Usage: "log progress"},
	}
}

func newApp(stdout, stderr io.Writer) *cli.App {
	return &cli.App{
		Name:  "colony-bench",
		Usage: "load harness for live-streaming servers (RTMP in; HLS, LL-HLS, WHEP, WebSocket out)",
		Commands: []*cli.Command{
			{
				Name:  "run",
				Usage: "one run: --viewers viewers of one --mode",
				Flags: append(targetFlags(),
					&cli.StringFlag{Name: "mode", Value: modeHLS, Usage: "hls, llhls, whep or ws"},
					&cli.IntFlag{Name: "viewers", Value: 1, Usage: "concurrent viewers"}),
				Action: func(c *cli.Context) error {
					return runSteps(c, stdout, stderr, []step{{Mode: c.String("mode"), Viewers: c.Int("viewers")}})
				},
			},
			{
				Name:  "matrix",
				Usage: "several runs in a row against one target, publishing throughout",
				Flags: append(targetFlags(),
					&cli.StringFlag{Name: "runs", Value: "hls:1,llhls:1,whep:1,ws:1", Usage: "`MODE:VIEWERS,...` to run in order; MODE:VIEWERS@5s-15s keeps VIEWERS viewers playing, each leaving after a lifetime in the range and replaced at once (churn)"},
					&cli.DurationFlag{Name: "pause", Value: 2 * time.Second, Usage: "rest between runs"}),
				Action: func(c *cli.Context) error {
					steps, err := parseSteps(c.String("runs"))
					if err != nil {
						return err
					}
					return runSteps(c, stdout, stderr, steps)
				},
			},
			{
				Name:      "table",
				Usage:     "print the table of JSON result lines read from files (or stdin)",
				ArgsUsage: "[FILE...]",
				Action: func(c *cli.Context) error {
					return printTables(c.Args().Slice(), stdout)
				},
			},
		},
	}
}

// runSteps runs steps against the target named by the flags, printing
// each result as it comes and the table at the end.
func runSteps(c *cli.Context, stdout, stderr io.Writer, steps []step) error {
	level := slog.LevelWarn
	if c.Bool("verbose") {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	b := &bench{
		targets: targets{RTMP: c.String("rtmp"), HLS: c.String("hls"), HLSRef: c.String("hls-ref"),
			WHEP: c.String("whep"), WS: c.String("ws"), Stream: c.String("stream")},
		timing:    timing{Duration: c.Duration("duration"), Warmup: c.Duration("warmup"), Ramp: c.Duration("ramp")},
		serverPID: c.Int("server-pid"),
		label:     c.String("label"),
		log:       log,
	}
	if err := b.targets.check(); err != nil {
		return err
	}
	if u := c.String("server-metrics"); u != "" {
		b.gauges = &gaugeReader{url: u, names: c.StringSlice("server-gauges"), settle: c.Duration("settle"),
			client: &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}}
	}
	var err error
	if b.rtc, err = newRTCShared(c.Bool("viewer-gro")); err != nil {
		return err
	}
	for _, st := range steps {
		if st.Viewers < 1 {
			return fmt.Errorf("%w: %d viewers", errConfig, st.Viewers)
		}
		if _, err := b.targets.playURL(st.Mode); err != nil {
			return err
		}
	}
	stopPub, err := b.startPublisher(c.Context, c.String("clip"))
	if err != nil {
		return err
	}
	defer stopPub()
	if c.String("rtmp") != "" {
		sleepCtx(c.Context, c.Duration("lead"))
	}
	table := stdout
	if c.Bool("json") {
		table = stderr
	}
	var results []result
	var errs []error
	for i, st := range steps {
		if i > 0 && !sleepCtx(c.Context, c.Duration("pause")) {
			break
		}
		res, err := b.run(c.Context, st)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", st.name(), err))
			if c.Context.Err() != nil || b.publisherFailed() != nil {
				break
			}
			continue
		}
		results = append(results, res)
		if c.Bool("json") {
			if err := writeJSONLine(stdout, res); err != nil {
				return err
			}
		}
	}
	if len(results) > 0 {
		if err := writeTable(table, results); err != nil {
			return err
		}
	}
	return errors.Join(errs...)
}

func printTables(files []string, stdout io.Writer) error {
	var all []result
	if len(files) == 0 {
		rs, err := readResults(os.Stdin)
		if err != nil {
			return err
		}
		all = rs
	}
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return err
		}
		rs, err := readResults(fh)
		fh.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		all = append(all, rs...)
	}
	return writeTable(stdout, all)
}
