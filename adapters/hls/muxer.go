package hls

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/bluenviron/gohlslib/v2"

	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/core/stream"
)

const (
	// errorLogInterval spaces out the logs of a stream's repeated write errors.
	errorLogInterval = 10 * time.Second
	// playerStartSegments is how far from the live edge plain HLS players
	// start, in segments.
	playerStartSegments = 3
)

// streamMuxer is the gohlslib muxer of one attached stream and the
// goroutines feeding it.
type streamMuxer struct {
	key     stream.Key
	src     *media.Stream
	cfg     Config
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
	ll          bool         // the Low-Latency variant: blocking reloads and parts
	files       *fileCache   // what requests are served from
	memFiles    *memoryFiles // the server's bound on segments in memory files
	leading     int          // the track whose keyframes may end a segment

	// The AAC companion of Opus audio (see companion.go): when opus is a
	// track index, the muxer starts in run, once the companion is there
	// or has failed; started is closed then (at once without companion).
	companions AACCompanions
	opus       int           // the Opus track the companion replaces; -1: none
	companion  *media.Reader // the companion's units, written as track opus
	started    chan struct{}

	// Set before ready is closed, read-only afterwards.
	feeds    map[string]*playlistFeed // by gohlslib's media playlist name
	feedList []*playlistFeed

	pokeMu sync.Mutex
	pokeCh chan struct{} // closed and replaced when a segment may have ended

	ready chan struct{} // closed once the first segments exist (prefix is set)
	done  chan struct{} // closed after the muxer closed and the server forgot it

	// Guarded by Server.mu.
	prefix  string
	removed bool

	// Guarded by writeMu: the source and the companion write.
	writeMu    sync.Mutex
	ntpBase    time.Time
	lastErrLog time.Time
	errors     int
}

func newStreamMuxer(ctx context.Context, cfg Config, key stream.Key, src *media.Stream, log *slog.Logger, files *memoryFiles) (*streamMuxer, error) {
	log = log.With("stream", key.String())
	ctx, cancel := context.WithCancel(ctx)
	sm := &streamMuxer{
		key: key, src: src, cfg: cfg, log: log,
		ctx: ctx, cancel: cancel, memFiles: files,
		ready: make(chan struct{}), done: make(chan struct{}), started: make(chan struct{}),
		minSegments: minSegments(cfg),
		ll:          cfg.Variant == VariantLowLatency,
		companions:  cfg.Companions,
		opus:        companionTrack(cfg, src.Tracks()),
		feeds:       make(map[string]*playlistFeed),
		pokeCh:      make(chan struct{}),
	}
	if cfg.Directory != "" {
		// Each muxer gets a directory: gohlslib writes fixed playlist names
		// there in the non-low-latency variants.
		dir, err := os.MkdirTemp(cfg.Directory, muxerDirPrefix+string(key.App)+"_"+string(key.ID)+"_")
		if err != nil {
			cancel()
			return nil, fmt.Errorf("segment directory: %w", err)
		}
		sm.dir = dir
	}
	// Requests are served from the cache either way. Without a directory
	// the cache shares the bytes of the muxer's storage (memStorage); with
	// one, gohlslib's copy of the window is in files and the cache holds
	// its own.
	sm.files = newFileCache()
	if sm.opus >= 0 {
		return sm, nil // run starts the muxer once the companion is there
	}
	if err := sm.start(src.Tracks(), -1); err != nil {
		sm.discard()
		return nil, err
	}
	return sm, nil
}

// start starts the gohlslib muxer for tracks (leaving out track drop, if
// not -1) and subscribes to the source.
func (sm *streamMuxer) start(tracks []media.Track, drop int) error {
	mp, err := mapTracks(tracks, sm.cfg.Variant, drop)
	if err != nil {
		return err
	}
	for _, why := range mp.skipped {
		sm.log.Info("track left out of HLS", "why", why)
	}
	m := &gohlslib.Muxer{
		Tracks:             mp.tracks,
		Variant:            sm.cfg.muxerVariant(),
		SegmentCount:       sm.cfg.SegmentCount,
		SegmentMinDuration: sm.cfg.SegmentMinDuration,
		PartMinDuration:    sm.cfg.PartMinDuration,
		Directory:          sm.dir,
		MuxedAudio:         !sm.cfg.SeparateAudio,
		// RTMP's timestamps are milliseconds: parts of 4 frames at 30 fps
		// last 133 or 134 ms, and PART-TARGET must not follow that.
		PartTargetJitter: time.Millisecond,
		OnEncodeError: func(err error) {
			sm.log.Warn("HLS encode error", "err", err)
		},
	}
	if sm.dir == "" {
		m.StorageFactory = memStorage{files: sm.memFiles}
	}
	if err := m.Start(); err != nil {
		return fmt.Errorf("start muxer: %w", err)
	}
	r, err := sm.src.Subscribe()
	if err != nil {
		m.Close()
		return fmt.Errorf("subscribe: %w", err)
	}
	sm.muxer, sm.reader, sm.writers, sm.leading = m, r, mp.writers, mp.leading
	close(sm.started)
	return nil
}

// discard releases a muxer that was never run.
func (sm *streamMuxer) discard() {
	sm.cancel()
	if sm.reader != nil {
		sm.reader.Close()
	}
	if sm.muxer != nil {
		sm.muxer.Close()
	}
	removeDir(sm.dir, sm.log)
}

// run feeds the muxer until the stream ends or sm is cancelled, then
// closes the muxer, which wakes every request waiting inside it.
func (sm *streamMuxer) run() {
	defer removeDir(sm.dir, sm.log)
	defer sm.cancel()
	if sm.muxer == nil && !sm.startWithCompanion() {
		return
	}
	defer sm.muxer.Close()
	defer sm.reader.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	if c := sm.companion; c != nil {
		defer c.Close()
		wg.Go(func() {
			err := c.Run(sm.ctx, sm.writeCompanion)
			sm.log.Debug("AAC companion stopped", "reason", err, "dropped", c.Dropped())
		})
	}
	sm.log.Debug("HLS muxer started")
	err := sm.reader.Run(sm.ctx, sm.write)
	sm.cancel() // the companion too
	sm.log.Debug("HLS muxer stopped", "reason", err, "dropped", sm.reader.Dropped())
}

func (sm *streamMuxer) write(u *media.Unit) error {
	if u.Track < 0 || u.Track >= len(sm.writers) || u.Track == sm.opus && sm.companion != nil {
		return nil
	}
	return sm.writeAs(u.Track, u)
}

// writeAs writes u as the muxer's track for media track i.
func (sm *streamMuxer) writeAs(i int, u *media.Unit) error {
	w := sm.writers[i]
	if w == nil {
		return nil
	}
	sm.writeMu.Lock()
	defer sm.writeMu.Unlock()
	if sm.ntpBase.IsZero() {
		ref := u.Ingest
		if ref.IsZero() {
			ref = time.Now()
		}
		sm.ntpBase = ref.Add(-u.PTS)
	}
	if err := w.write(sm.muxer, sm.ntpBase.Add(u.PTS), u); err != nil {
		sm.errors++
		if now := time.Now(); now.Sub(sm.lastErrLog) >= errorLogInterval {
			sm.log.Warn("HLS write error", "track", i, "err", err, "errors", sm.errors)
			sm.lastErrLog = now
		}
	}
	if !sm.ll && u.Key && i == sm.leading {
		sm.poke() // gohlslib ends segments inside the write of a keyframe
	}
	return nil
}

// poke wakes the feeds of a muxer without parts: a segment may have ended.
func (sm *streamMuxer) poke() {
	sm.pokeMu.Lock()
	defer sm.pokeMu.Unlock()
	close(sm.pokeCh)
	sm.pokeCh = make(chan struct{})
}

// pokes returns a channel closed at the next poke.
func (sm *streamMuxer) pokes() <-chan struct{} {
	sm.pokeMu.Lock()
	defer sm.pokeMu.Unlock()
	return sm.pokeCh
}

// waitContent blocks until the muxer has its first segments or is
// closed, starts a feed per media playlist (with start, which runs a
// goroutine the server waits for) and returns the muxer's file prefix,
// read from its first media playlist. gohlslib's multivariant playlist
// blocks until one segment exists (two in fMP4); plain HLS players,
// gohlslib's client among them, start three segments from the live edge
// and give up on a shorter playlist, so without parts the wait goes on
// until there are minSegments.
func (sm *streamMuxer) waitContent(start func(func()) bool) (string, bool) {
	select {
	case <-sm.started:
	case <-sm.ctx.Done():
		return "", false
	}
	mv := sm.get("index.m3u8", "")
	if mv.status != http.StatusOK {
		return "", false
	}
	names := mediaPlaylists(mv.bytes())
	if len(names) == 0 {
		sm.log.Warn("HLS multivariant playlist without a media playlist")
		return "", false
	}
	for _, name := range names {
		f := newPlaylistFeed(name)
		sm.feeds[name] = f
		sm.feedList = append(sm.feedList, f)
		if !start(func() { sm.follow(f) }) {
			return "", false
		}
	}
	for i, f := range sm.feedList {
		st := f.state()
		for !st.closed && (!st.ready || i == 0 && st.media < sm.minSegments) {
			select {
			case <-st.changed:
				st = f.state()
			case <-sm.ctx.Done():
				return "", false
			}
		}
		if st.closed {
			return "", false
		}
	}
	prefix, ok := muxerPrefix(sm.feedList[0].state().full.body)
	if !ok {
		sm.log.Warn("no file prefix in the HLS media playlist")
	}
	return prefix, ok
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
