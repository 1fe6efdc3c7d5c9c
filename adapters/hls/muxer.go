package hls

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/bluenviron/gohlslib/v2"

	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/core/stream"
)

const (
	// errorLogInterval spaces out the logs of a stream's repeated write errors.
	errorLogInterval = 10 * time.Second
	// readyPoll is how often a muxer without parts is checked for enough
	// segments to be announced.
	readyPoll = 100 * time.Millisecond
	// playerStartSegments is how far from the live edge plain HLS players
	// start, in segments.
	playerStartSegments = 3
)

// streamMuxer is the gohlslib muxer of one attached stream and the
// goroutine feeding it.
type streamMuxer struct {
	key     stream.Key
	src     *media.Stream
	reader  *media.Reader // subscribed at creation, so that no unit is missed
	muxer   *gohlslib.Muxer
	writers []unitWriter
	dir     string // the stream's own directory, "" when segments are in RAM
	log     *slog.Logger
	ctx     context.Context
	cancel  context.CancelFunc
	viewers viewers
	// minSegments is how many segments the media playlist needs before
	// the stream is announced.
	minSegments int

	ready chan struct{} // closed once the first segments exist (prefix is set)
	done  chan struct{} // closed after the muxer closed and the server forgot it

	// Guarded by Server.mu.
	prefix  string
	removed bool

	// Owned by run.
	ntpBase    time.Time
	lastErrLog time.Time
	errors     int
}

func newStreamMuxer(ctx context.Context, cfg Config, key stream.Key, src *media.Stream, log *slog.Logger) (*streamMuxer, error) {
	mp, err := mapTracks(src.Tracks(), cfg.Variant)
	if err != nil {
		return nil, err
	}
	log = log.With("stream", key.String())
	for _, why := range mp.skipped {
		log.Info("track left out of HLS", "why", why)
	}
	var dir string
	if cfg.Directory != "" {
		// Each muxer gets a directory: gohlslib writes fixed playlist names
		// there in the non-low-latency variants.
		dir, err = os.MkdirTemp(cfg.Directory, string(key.App)+"_"+string(key.ID)+"_")
		if err != nil {
			return nil, fmt.Errorf("segment directory: %w", err)
		}
	}
	m := &gohlslib.Muxer{
		Tracks:             mp.tracks,
		Variant:            cfg.muxerVariant(),
		SegmentCount:       cfg.SegmentCount,
		SegmentMinDuration: cfg.SegmentMinDuration,
		PartMinDuration:    cfg.PartMinDuration,
		Directory:          dir,
		OnEncodeError: func(err error) {
			log.Warn("HLS encode error", "err", err)
		},
	}
	if err := m.Start(); err != nil {
		removeDir(dir, log)
		return nil, fmt.Errorf("start muxer: %w", err)
	}
	r, err := src.Subscribe()
	if err != nil {
		m.Close()
		removeDir(dir, log)
		return nil, fmt.Errorf("subscribe: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	return &streamMuxer{
		key: key, src: src, reader: r, muxer: m, writers: mp.writers, dir: dir, log: log,
		ctx: ctx, cancel: cancel,
		ready: make(chan struct{}), done: make(chan struct{}),
		minSegments: minSegments(cfg),
	}, nil
}

// discard releases a muxer that was never run.
func (sm *streamMuxer) discard() {
	sm.cancel()
	sm.reader.Close()
	sm.muxer.Close()
	removeDir(sm.dir, sm.log)
}

// run feeds the muxer until the stream ends or sm is cancelled, then
// closes the muxer, which wakes every request waiting inside it.
func (sm *streamMuxer) run() {
	defer removeDir(sm.dir, sm.log)
	defer sm.muxer.Close()
	defer sm.cancel()
	defer sm.reader.Close()
	sm.log.Debug("HLS muxer started")
	err := sm.reader.Run(sm.ctx, sm.write)
	sm.log.Debug("HLS muxer stopped", "reason", err, "dropped", sm.reader.Dropped())
}

func (sm *streamMuxer) write(u *media.Unit) error {
	if u.Track < 0 || u.Track >= len(sm.writers) || sm.writers[u.Track] == nil {
		return nil
	}
	if sm.ntpBase.IsZero() {
		ref := u.Ingest
		if ref.IsZero() {
			ref = time.Now()
		}
		sm.ntpBase = ref.Add(-u.PTS)
	}
	if err := sm.writers[u.Track].write(sm.muxer, sm.ntpBase.Add(u.PTS), u); err != nil {
		sm.errors++
		if now := time.Now(); now.Sub(sm.lastErrLog) >= errorLogInterval {
			sm.log.Warn("HLS write error", "track", u.Track, "err", err, "errors", sm.errors)
			sm.lastErrLog = now
		}
	}
	return nil
}

// waitContent blocks until the muxer has its first segments or is
// closed, and returns the muxer's file prefix, read from its first media
// playlist. gohlslib's multivariant playlist blocks until one segment
// exists (two in fMP4); plain HLS players, gohlslib's client among them,
// start three segments from the live edge and give up on a shorter
// playlist, so without parts the wait goes on until there are
// minSegments.
func (sm *streamMuxer) waitContent() (string, bool) {
	mv := sm.get("index.m3u8", "")
	if mv.status != http.StatusOK {
		return "", false
	}
	uri, ok := firstURI(mv.body.Bytes())
	if !ok {
		sm.log.Warn("HLS multivariant playlist without a media playlist")
		return "", false
	}
	poll := time.NewTicker(readyPoll)
	defer poll.Stop()
	for {
		media := sm.get(uri, "")
		if media.status != http.StatusOK {
			return "", false
		}
		if countSegments(media.body.Bytes()) >= sm.minSegments {
			prefix, ok := muxerPrefix(media.body.Bytes())
			if !ok {
				sm.log.Warn("no file prefix in the HLS media playlist")
			}
			return prefix, ok
		}
		select {
		case <-poll.C:
		case <-sm.ctx.Done():
			return "", false
		}
	}
}

// get asks the muxer for one of its files, in this goroutine.
func (sm *streamMuxer) get(file, rawQuery string) *bufferedWriter {
	r, _ := http.NewRequestWithContext(sm.ctx, http.MethodGet, "/", nil)
	r.URL.Path = "/" + file
	r.URL.RawQuery = rawQuery
	w := newBufferedWriter()
	sm.muxer.Handle(w, r)
	return w
}

func removeDir(dir string, log *slog.Logger) {
	if dir == "" {
		return
	}
	if err := os.RemoveAll(filepath.Clean(dir)); err != nil {
		log.Warn("remove HLS segment directory", "dir", dir, "err", err)
	}
}

// minSegments is how many segments a stream needs before it is announced:
// one with Low-Latency HLS, whose players start from parts (and whose
// playlists begin with gap segments), else enough for a player to start
// playerStartSegments from the live edge.
func minSegments(cfg Config) int {
	if cfg.Variant == VariantLowLatency {
		return 1
	}
	return min(playerStartSegments, cfg.SegmentCount)
}
