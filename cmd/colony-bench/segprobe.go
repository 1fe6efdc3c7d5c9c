package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
)

// The segment-availability probe (--hls-ref) tells how much later each
// media segment is listed at the played URL (an edge) than at a reference
// URL (the origin of the same stream). Viewers' latency through HLS
// depends on where their reloads fall against segment boundaries, which
// hides a few milliseconds of edge delay; the moment a segment is listed
// does not.
//
// Each side follows its media playlist: with blocking reloads
// (CAN-BLOCK-RELOAD=YES) for the next part, or the next segment where the
// playlist has no parts, so that the answer comes when the server lists
// it; otherwise by polling every probePoll. Each segment that appears
// while following is downloaded and keyed by the stamp of its first
// stamped video frame: the two servers run independent muxers, so their
// media sequence numbers differ, but both cut segments at the same
// keyframes.

// probePoll is the polling interval for playlists without blocking
// reloads.
const probePoll = 10 * time.Millisecond

// probeQueue bounds the segments listed but not yet downloaded per side.
const probeQueue = 16

// segmentProbe follows the reference and the played media playlist for one
// run. Its goroutines end at stop.
type segmentProbe struct {
	ref, played *probeSide
	client      *http.Client
	cancel      context.CancelFunc
	wg          sync.WaitGroup
	stopOnce    sync.Once
}

// startSegmentProbe starts following refURL and playedURL (multivariant or
// media playlists) until stop.
func startSegmentProbe(ctx context.Context, refURL, playedURL string) *segmentProbe {
	p := &segmentProbe{client: newHTTPClient(1)}
	p.ref = &probeSide{name: "reference", url: refURL, client: p.client, listed: map[int64]time.Time{}}
	p.played = &probeSide{name: "played", url: playedURL, client: p.client, listed: map[int64]time.Time{}}
	ctx, p.cancel = context.WithCancel(ctx)
	for _, s := range []*probeSide{p.ref, p.played} {
		jobs := make(chan probeJob, probeQueue)
		p.wg.Go(func() {
			defer close(jobs)
			if err := s.follow(ctx, jobs); err != nil {
				s.note(err)
			}
		})
		p.wg.Go(func() { s.fetch(ctx, jobs) })
	}
	return p
}

// stop ends the probe's goroutines and waits for them (at most 20 s).
func (p *segmentProbe) stop() {
	p.stopOnce.Do(func() {
		p.cancel()
		waitTimeout(&p.wg, 20*time.Second)
		p.client.CloseIdleConnections()
	})
}

// fill puts what the probe measured in win into r. Call it after stop.
func (p *segmentProbe) fill(r *result, win *window) {
	ref, refErr := p.ref.snapshot()
	played, playedErr := p.played.snapshot()
	m := matchSegments(ref, played, win)
	d := summarize(m.delays)
	r.SegmentRef = p.ref.url
	r.SegmentDelay = &d
	r.SegmentsMatched, r.SegmentsRefOnly, r.SegmentsPlayedOnly = m.matched, m.refOnly, m.playedOnly
	var errs []string
	if refErr != nil {
		errs = append(errs, p.ref.name+": "+refErr.Error())
	}
	if playedErr != nil {
		errs = append(errs, p.played.name+": "+playedErr.Error())
	}
	r.SegmentProbeErr = strings.Join(errs, "; ")
}

// segmentMatch is the comparison of the two sides' listing times.
type segmentMatch struct {
	delays     []float64 // played - reference, ms, for each segment listed at both
	matched    int
	refOnly    int // listed at the reference only
	playedOnly int // listed at the played URL only
}

// matchSegments compares when each segment (keyed by its first stamp) was
// listed at the reference and at the played URL. A segment counts if it
// was listed at the reference inside win, or, when the reference never
// listed it, at the played URL inside win.
func matchSegments(ref, played map[int64]time.Time, win *window) segmentMatch {
	var m segmentMatch
	for stamp, tr := range ref {
		if !win.contains(tr) {
			continue
		}
		tp, ok := played[stamp]
		if !ok {
			m.refOnly++
			continue
		}
		m.matched++
		m.delays = append(m.delays, ms(tp.Sub(tr)))
	}
	for stamp, tp := range played {
		if _, ok := ref[stamp]; !ok && win.contains(tp) {
			m.playedOnly++
		}
	}
	return m
}

// probeSide follows one media playlist.
type probeSide struct {
	name   string
	url    string
	client *http.Client

	mu     sync.Mutex
	listed map[int64]time.Time // first stamp of a segment -> when its playlist arrived
	err    error               // the first problem met
}

// probeJob is a segment to download: when it was listed, and how to read
// its frames.
type probeJob struct {
	url    string
	listed time.Time
	parse  func(b []byte, out []mediaFrame) ([]mediaFrame, error)
}

func (s *probeSide) note(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
}

func (s *probeSide) add(stamp int64, t time.Time) {
	s.mu.Lock()
	if _, ok := s.listed[stamp]; !ok {
		s.listed[stamp] = t
	}
	s.mu.Unlock()
}

func (s *probeSide) snapshot() (map[int64]time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[int64]time.Time, len(s.listed))
	for k, v := range s.listed {
		out[k] = v
	}
	return out, s.err
}

// errNoStamp reports a segment without a stamped video frame.
var errNoStamp = errors.New("segment without a stamped video frame")

// follow reads the playlist until ctx ends and queues each segment that
// appears, with the time its playlist arrived. The segments of the first
// playlist are not timed, nor those that appeared while a request failed.
// It returns nil when ctx ends.
func (s *probeSide) follow(ctx context.Context, jobs chan<- probeJob) error {
	base, err := url.Parse(s.url)
	if err != nil {
		return fmt.Errorf("%w: %v", errBadURL, err)
	}
	var buf bytes.Buffer
	// A viewer that is never measured: its window never begins.
	v := &hlsViewer{url: s.url, client: s.client, stats: newViewerStats(&window{}, time.Now())}
	first, err := v.firstPlaylist(ctx, base, &buf)
	if err != nil {
		if ctx.Err() == nil {
			return err
		}
		v.stats.mu.Lock()
		retryErr := v.stats.retryErr
		v.stats.mu.Unlock()
		if retryErr != nil {
			return fmt.Errorf("no playlist: %w", retryErr)
		}
		return nil
	}
	mediaURL, _, pl, err := pickVariant(base, first)
	if err != nil {
		return err
	}
	var (
		prev     *playlist.Media // the last playlist read; nil before the first
		known    int             // msn of the first segment not listed yet
		parse    func([]byte, []mediaFrame) ([]mediaFrame, error)
		mapURI   string
		failures int
		lastReq  time.Time
	)
	for {
		np, now := pl, time.Now() // the first playlist, when s.url is a media playlist
		pl = nil
		dir := ""
		if np == nil {
			if prev != nil && failures == 0 {
				dir = blockingDirectives(prev)
			}
			if dir == "" {
				wait := probePoll
				if failures > 0 {
					wait = min(time.Duration(failures)*100*time.Millisecond, time.Second)
				}
				if !sleepCtx(ctx, time.Until(lastReq.Add(wait))) {
					return nil
				}
			}
			lastReq = time.Now()
			np, _, err = getMediaPlaylist(ctx, s.client, mediaURL, dir, &buf)
			now = time.Now()
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				s.note(err)
				failures++
				continue
			}
		}
		watched := prev != nil && failures == 0 // no gap since the previous answer
		failures = 0
		switch {
		case np.Map == nil:
			parse, mapURI = tsFrames, ""
		case parse == nil || np.Map.URI != mapURI:
			if parse, err = s.loadInit(ctx, mediaURL, np, &buf); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				s.note(err)
				failures++
				continue
			}
			mapURI = np.Map.URI
		}
		end := np.MediaSequence + len(np.Segments)
		switch {
		case prev == nil || end < known: // the first playlist, or the stream restarted
			known = end
		case end > known:
			from := max(known, np.MediaSequence)
			// Only one new segment, right after the last one seen, was listed
			// when this answer came; several at once appeared earlier.
			timed := watched && from == known && end == known+1
			for msn := from; msn < end && timed; msn++ {
				seg := np.Segments[msn-np.MediaSequence]
				if seg.Gap {
					continue
				}
				u, err := resolve(mediaURL, seg.URI)
				if err != nil {
					s.note(err)
					continue
				}
				select {
				case jobs <- probeJob{url: u.String(), listed: now, parse: parse}:
				default:
					s.note(errors.New("segment downloads fell behind"))
				}
			}
			known = end
		}
		progressed := prev == nil || blockingTarget(np) != blockingTarget(prev)
		prev = np
		if np.Endlist {
			return errEnded
		}
		if dir != "" && !progressed {
			// Answered without what was asked (the server gave up waiting, or
			// does not block): do not hammer it.
			if !sleepCtx(ctx, probePoll) {
				return nil
			}
		}
	}
}

// blockingDirectives returns the query of a blocking reload for the next
// change of pl, or "" when the server does not block: the part after the
// last one listed where the playlist has parts (Colony and gohlslib hold
// _HLS_msn=M alone only until segment M's first part, long before the
// segment is complete; the part that completes a segment is listed with
// it), else the next segment.
func blockingDirectives(pl *playlist.Media) string {
	if pl.ServerControl == nil || !pl.ServerControl.CanBlockReload {
		return ""
	}
	t := blockingTarget(pl)
	if pl.PartInf != nil {
		return fmt.Sprintf("_HLS_msn=%d&_HLS_part=%d", t.msn, t.k)
	}
	return fmt.Sprintf("_HLS_msn=%d", t.msn)
}

// withDirectives returns u with the LL-HLS delivery directives dir in its
// query, in place of any it had; the rest of the query is kept as it is
// (a signed URL's token stays byte for byte).
func withDirectives(u *url.URL, dir string) string {
	var kept []string
	for _, kv := range strings.Split(u.RawQuery, "&") {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "", "_HLS_msn", "_HLS_part", "_HLS_skip":
			continue
		}
		kept = append(kept, kv)
	}
	if dir != "" {
		kept = append(kept, dir)
	}
	w := *u
	w.RawQuery = strings.Join(kept, "&")
	return w.String()
}

// loadInit fetches pl's init segment (EXT-X-MAP) and returns how to read
// the video frames of the segments that follow it.
func (s *probeSide) loadInit(ctx context.Context, mediaURL *url.URL, pl *playlist.Media, buf *bytes.Buffer) (
	func([]byte, []mediaFrame) ([]mediaFrame, error), error) {
	u, err := resolve(mediaURL, pl.Map.URI)
	if err != nil {
		return nil, err
	}
	b, err := get(ctx, s.client, u.String(), buf)
	if err != nil {
		return nil, fmt.Errorf("init segment: %w", err)
	}
	vid, err := parseInit(b)
	if err != nil {
		return nil, err
	}
	return vid.frames, nil
}

// fetch downloads the queued segments and records each one's first stamp
// with its listing time, until jobs is closed.
func (s *probeSide) fetch(ctx context.Context, jobs <-chan probeJob) {
	var buf bytes.Buffer
	var frames []mediaFrame
	for j := range jobs {
		if ctx.Err() != nil {
			continue // drain
		}
		b, err := get(ctx, s.client, j.url, &buf)
		if err != nil {
			if ctx.Err() == nil {
				s.note(fmt.Errorf("segment: %w", err))
			}
			continue
		}
		frames, err = j.parse(b, frames[:0])
		stamp, ok := firstStamp(frames)
		if !ok {
			if err == nil {
				err = errNoStamp
			}
			s.note(fmt.Errorf("%s: %w", j.url, err))
			continue
		}
		s.add(stamp, j.listed)
	}
}

// firstStamp returns the stamp of the first stamped frame.
func firstStamp(frames []mediaFrame) (int64, bool) {
	for _, f := range frames {
		if f.info.stamped {
			return f.info.stamp, true
		}
	}
	return 0, false
}
