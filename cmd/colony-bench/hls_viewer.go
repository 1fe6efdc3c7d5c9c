package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
)

// hlsViewer plays an HLS stream the way a browser player does: the
// multivariant playlist, then the first variant's media playlist and its
// audio rendition if separate, following the live edge. In classic mode it
// behaves like hls.js (start 3 target durations behind the edge, reload
// the playlist every target duration, fetch whole segments one at a time);
// in low-latency mode like Apple's player (blocking playlist reloads,
// parts, preload hints, start PART-HOLD-BACK behind the edge).
type hlsViewer struct {
	url    string
	low    bool
	client *http.Client
	stats  *viewerStats
}

// Run plays until ctx ends; it returns an error only if playback could not
// go on.
func (v *hlsViewer) Run(ctx context.Context) error {
	base, err := url.Parse(v.url)
	if err != nil {
		return fmt.Errorf("%w: %v", errBadURL, err)
	}
	var buf bytes.Buffer
	pl, err := v.firstPlaylist(ctx, base, &buf)
	if err != nil {
		return err
	}
	videoURL, audioURL, media, err := pickVariant(base, pl)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if audioURL != nil {
		a := &follower{v: v, url: audioURL}
		wg.Go(func() {
			if err := a.run(ctx, nil); err != nil && ctx.Err() == nil {
				v.stats.fail(fmt.Errorf("audio rendition: %w", err))
			}
		})
	}
	f := &follower{v: v, url: videoURL, video: true}
	if err := f.run(ctx, media); err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}

// firstPlaylist fetches the URL until it answers (the stream may not be
// live yet), and parses it.
func (v *hlsViewer) firstPlaylist(ctx context.Context, u *url.URL, buf *bytes.Buffer) (playlist.Playlist, error) {
	for {
		b, err := get(ctx, v.client, u.String(), buf)
		if err == nil {
			v.stats.received(time.Now(), len(b))
			pl, err := playlist.Unmarshal(b)
			if err != nil {
				return nil, fmt.Errorf("playlist %s: %w", u, err)
			}
			return pl, nil
		}
		v.stats.retrying(err)
		if !sleepCtx(ctx, 500*time.Millisecond) {
			return nil, ctx.Err()
		}
	}
}

// pickVariant returns what a player plays from the first playlist it got
// from base: the media playlist itself (media set, videoURL base), or the
// first variant of a multivariant playlist (media nil) and its separate
// audio rendition, if any.
func pickVariant(base *url.URL, pl playlist.Playlist) (videoURL, audioURL *url.URL, media *playlist.Media, err error) {
	switch p := pl.(type) {
	case *playlist.Media:
		return base, nil, p, nil
	case *playlist.Multivariant:
		if len(p.Variants) == 0 {
			return nil, nil, nil, errors.New("multivariant playlist without variants")
		}
		vr := p.Variants[0]
		if videoURL, err = resolve(base, vr.URI); err != nil {
			return nil, nil, nil, err
		}
		if audioURL, err = audioRendition(base, p, vr); err != nil {
			return nil, nil, nil, err
		}
		return videoURL, audioURL, nil, nil
	}
	return nil, nil, nil, fmt.Errorf("playlist %s: %T", base, pl)
}

// audioRendition returns the URL of the variant's separate audio playlist,
// if any: the default rendition of its AUDIO group, or the group's first.
func audioRendition(base *url.URL, p *playlist.Multivariant, vr *playlist.MultivariantVariant) (*url.URL, error) {
	if vr.Audio == "" {
		return nil, nil
	}
	var pick *playlist.MultivariantRendition
	for _, r := range p.Renditions {
		if r.Type != playlist.MultivariantRenditionTypeAudio || r.GroupID != vr.Audio || r.URI == nil {
			continue
		}
		if pick == nil || r.Default && !pick.Default {
			pick = r
		}
	}
	if pick == nil {
		return nil, nil
	}
	return resolve(base, *pick.URI)
}
