package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
)

// follower follows one media playlist (the video variant or the audio
// rendition) of an hlsViewer. Only the video follower parses media.
type follower struct {
	v     *hlsViewer
	url   *url.URL
	video bool

	plBuf, mediaBuf bytes.Buffer
	parse           func(b []byte, out []mediaFrame) ([]mediaFrame, error) // nil: count bytes only
	frames          []mediaFrame
	play            playout
	gotKey          bool
	skip            time.Duration // media after the first keyframe not shown (start position)
	showFrom        time.Duration // pts of the first frame shown
}

func (f *follower) run(ctx context.Context, pl *playlist.Media) error {
	if pl == nil {
		var err error
		if pl, err = f.fetchPlaylist(ctx, ""); err != nil {
			return err
		}
	}
	if err := f.loadInit(ctx, pl); err != nil {
		return err
	}
	if f.v.low && pl.ServerControl != nil && pl.ServerControl.CanBlockReload && pl.PartInf != nil {
		return f.runLow(ctx, pl)
	}
	return f.runClassic(ctx, pl)
}

// fetchPlaylist fetches the media playlist with the delivery directives
// query (none when empty).
func (f *follower) fetchPlaylist(ctx context.Context, query string) (*playlist.Media, error) {
	pl, n, err := getMediaPlaylist(ctx, f.v.client, f.url, query, &f.plBuf)
	if n > 0 {
		f.v.stats.received(time.Now(), n)
	}
	return pl, err
}

// getMediaPlaylist fetches the media playlist u with the LL-HLS delivery
// directives dir in its query, in place of any it had (withDirectives),
// and returns it and its size in bytes (0 when nothing was read).
func getMediaPlaylist(ctx context.Context, c *http.Client, u *url.URL, dir string, buf *bytes.Buffer) (*playlist.Media, int, error) {
	b, err := get(ctx, c, withDirectives(u, dir), buf)
	if err != nil {
		return nil, 0, err
	}
	pl, err := playlist.Unmarshal(b)
	if err != nil {
		return nil, len(b), fmt.Errorf("playlist %s: %w", u, err)
	}
	m, ok := pl.(*playlist.Media)
	if !ok {
		return nil, len(b), fmt.Errorf("playlist %s: not a media playlist", u)
	}
	return m, len(b), nil
}

// loadInit fetches the init segment (fMP4) or picks the MPEG-TS parser.
func (f *follower) loadInit(ctx context.Context, pl *playlist.Media) error {
	if pl.Map == nil {
		if f.video {
			f.parse = tsFrames
		}
		return nil
	}
	u, err := resolve(f.url, pl.Map.URI)
	if err != nil {
		return err
	}
	b, err := get(ctx, f.v.client, u.String(), &f.mediaBuf)
	if err != nil {
		return fmt.Errorf("init segment: %w", err)
	}
	f.v.stats.received(time.Now(), len(b))
	if !f.video {
		return nil
	}
	vid, err := parseInit(b)
	if err != nil {
		return err
	}
	f.parse = vid.frames
	return nil
}

// fetchMedia downloads a segment or part and shows its frames.
func (f *follower) fetchMedia(ctx context.Context, ref string) error {
	u, err := resolve(f.url, ref)
	if err != nil {
		return err
	}
	b, err := get(ctx, f.v.client, u.String(), &f.mediaBuf)
	if err != nil {
		return err
	}
	arrival := time.Now()
	f.v.stats.received(arrival, len(b))
	f.v.stats.fetchedOne(arrival)
	if f.parse == nil {
		return nil
	}
	f.frames, err = f.parse(b, f.frames[:0])
	f.deliver(arrival)
	if err != nil {
		return fmt.Errorf("%s: %w", u, err)
	}
	return nil
}

// deliver passes the parsed frames through the player clock to the stats,
// from the first keyframe on.
func (f *follower) deliver(arrival time.Time) {
	for _, fr := range f.frames {
		if !f.gotKey {
			if !fr.info.key {
				continue
			}
			f.gotKey, f.showFrom = true, fr.pts+f.skip
		}
		if fr.pts < f.showFrom {
			continue // decoded to reach the start position, not shown
		}
		display, rebuf := f.play.show(fr.pts, arrival)
		if rebuf {
			f.v.stats.rebuffer(arrival)
		}
		f.v.stats.frame(display, arrival, fr.info)
	}
}

// errEnded reports a playlist that ended (EXT-X-ENDLIST).
var errEnded = errors.New("stream ended")

// hls.js defaults: start liveSyncDurationCount target durations behind the
// live edge.
const liveSyncDurationCount = 3

// classicStart returns the segment hls.js loads first: the one holding
// the position 3 target durations before the end of the playlist, and how
// far into it that position is.
func classicStart(pl *playlist.Media) (msn int, skip time.Duration) {
	td := time.Duration(pl.TargetDuration) * time.Second
	var total time.Duration
	for _, s := range pl.Segments {
		total += s.Duration
	}
	pos := max(total-liveSyncDurationCount*td, 0)
	var at time.Duration
	for i, s := range pl.Segments {
		if pos < at+s.Duration || i == len(pl.Segments)-1 {
			return pl.MediaSequence + i, pos - at
		}
		at += s.Duration
	}
	return pl.MediaSequence, 0
}

// runClassic follows the playlist like hls.js: start 3 target durations
// behind the live edge, download segments one after another, reload the
// playlist after the last segment's duration if it changed, half a target
// duration if it did not.
func (f *follower) runClassic(ctx context.Context, pl *playlist.Media) error {
	td := max(time.Duration(pl.TargetDuration)*time.Second, 100*time.Millisecond)
	next, skip := classicStart(pl)
	f.skip = min(skip, td)
	total := pl.MediaSequence + len(pl.Segments)
	lastReload, lastAdvance := time.Now(), time.Now()
	changed, stuck := true, false
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		for {
			i := next - pl.MediaSequence
			if i < 0 {
				f.v.stats.missed(time.Now(), -i)
				next = pl.MediaSequence
				continue
			}
			if i >= len(pl.Segments) {
				break
			}
			seg := pl.Segments[i]
			next++
			if seg.Gap {
				continue
			}
			if err := f.fetchMedia(ctx, seg.URI); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				f.v.stats.httpError(time.Now())
			}
		}
		if pl.Endlist {
			return errEnded
		}
		interval := td / 2
		if changed && len(pl.Segments) > 0 {
			interval = pl.Segments[len(pl.Segments)-1].Duration
		}
		timer.Reset(time.Until(lastReload.Add(interval)))
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
		lastReload = time.Now()
		np, err := f.fetchPlaylist(ctx, "")
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			f.v.stats.httpError(time.Now())
			changed = false
			continue
		}
		now := time.Now()
		nt := np.MediaSequence + len(np.Segments)
		changed = nt != total
		switch {
		case changed:
			total, lastAdvance, stuck = nt, now, false
		case !stuck && now.Sub(lastAdvance) > 2*td:
			stuck = true
			f.v.stats.playlistStuck(now)
		}
		pl = np
	}
}
