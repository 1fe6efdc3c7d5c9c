package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
)

// llState is the latest playlist, shared by an LL-HLS follower's reload
// and media loops; changed is closed (and replaced) at every update.
type llState struct {
	mu      sync.Mutex
	pl      *playlist.Media
	changed chan struct{}
}

func (s *llState) get() (*playlist.Media, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pl, s.changed
}

func (s *llState) set(pl *playlist.Media) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pl = pl
	close(s.changed)
	s.changed = make(chan struct{})
}

// runLow follows an LL-HLS playlist like Apple's player: one loop reloads
// the playlist with blocking requests for the next part while the other
// fetches parts in order, asking for the preload hint as soon as it is
// the next part.
func (f *follower) runLow(ctx context.Context, pl *playlist.Media) error {
	st := &llState{pl: pl, changed: make(chan struct{})}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() { f.reloadLoop(ctx, st) })

	next, skip := pickStart(pl)
	f.skip = skip
	for ctx.Err() == nil {
		pl, changed := st.get()
		loc := locate(pl, next)
		switch loc.kind {
		case locPart, locHint, locSegment:
			if err := f.fetchMedia(ctx, loc.uri); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				f.v.stats.httpError(time.Now())
				if loc.kind == locHint {
					waitChange(ctx, changed) // ask again once the playlist moved
					continue
				}
			}
			next = loc.next
		case locSkip:
			next = loc.next
		case locGone:
			f.v.stats.missed(time.Now(), 1)
			next, _ = pickStart(pl)
		case locWait:
			waitChange(ctx, changed)
		}
	}
	return nil
}

func waitChange(ctx context.Context, changed <-chan struct{}) {
	select {
	case <-ctx.Done():
	case <-changed:
	}
}

// reloadLoop asks for the playlist that holds the part after the last one
// listed, over and over; the server answers when that part exists.
func (f *follower) reloadLoop(ctx context.Context, st *llState) {
	pl, _ := st.get()
	td := max(time.Duration(pl.TargetDuration)*time.Second, 100*time.Millisecond)
	last, lastAdvance, stuck := blockingTarget(pl), time.Now(), false
	failures := 0
	for ctx.Err() == nil {
		want := blockingTarget(pl)
		query := fmt.Sprintf("_HLS_msn=%d&_HLS_part=%d", want.msn, want.k)
		if failures > 0 {
			query = "" // a plain reload to resynchronise
		}
		np, err := f.fetchPlaylist(ctx, query)
		now := time.Now()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			f.v.stats.httpError(now)
			failures++
			if !sleepCtx(ctx, min(time.Duration(failures)*100*time.Millisecond, td)) {
				return
			}
			continue
		}
		failures = 0
		if np.Endlist {
			st.set(np)
			return
		}
		got := blockingTarget(np)
		pl = np
		st.set(np)
		if got != last {
			last, lastAdvance, stuck = got, now, false
			continue
		}
		if !stuck && now.Sub(lastAdvance) > 2*td {
			stuck = true
			f.v.stats.playlistStuck(now)
		}
		// The server answered without the part asked for (it gave up
		// waiting, or does not block): do not hammer it.
		if !sleepCtx(ctx, partTarget(np)/2) {
			return
		}
	}
}

func partTarget(pl *playlist.Media) time.Duration {
	if pl.PartInf != nil && pl.PartInf.PartTarget > 0 {
		return pl.PartInf.PartTarget
	}
	return 200 * time.Millisecond
}

// sleepCtx waits d; false if ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
