package hls

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
)

// A feed keeps one media playlist of a muxer rendered. gohlslib renders a
// playlist on every request, under the muxer's lock, and holds every
// LL-HLS blocking reload in a goroutine of its own; here one goroutine per
// media playlist (follow) asks gohlslib once per change (with LL-HLS, a
// blocking reload for the next part, answered as soon as the part exists),
// fetches the new files it lists into the muxer's fileCache, and publishes
// the new version; requests are answered from the latest version, and
// blocking reloads wait on its changed channel.
type playlistFeed struct {
	name string // gohlslib's name: video1_stream.m3u8, audio2_stream.m3u8
	cur  atomic.Pointer[plState]
}

func newPlaylistFeed(name string) *playlistFeed {
	f := &playlistFeed{name: name}
	f.cur.Store(&plState{changed: make(chan struct{})})
	return f
}

func (f *playlistFeed) state() *plState { return f.cur.Load() }

// publish makes st the current version and wakes the waiters of the
// previous one.
func (f *playlistFeed) publish(st *plState) {
	old := f.cur.Swap(st)
	close(old.changed)
}

// plState is one version of a media playlist. It never changes once
// published, except for its delta update, rendered on first demand.
type plState struct {
	changed chan struct{} // closed when a newer version replaces this one
	closed  bool          // the muxer closed: nothing more will come
	ready   bool          // false only for the placeholder before the first version

	full         uriTemplate
	ctype        []string // header values, shared
	cacheControl []string
	etag         []string
	length       []string // Content-Length of full without a query

	ll        bool
	first     uint64 // media sequence number of the first segment listed
	count     int    // segments listed, gap segments included
	media     int    // segments listed, without gap segments
	next      uint64 // msn of the segment being built
	lastParts int    // parts listed in segment next-1
	parts     int    // parts listed in segment next
	hint      string // the preload hint's file name

	deltaOnce sync.Once
	delta     *uriTemplate // the _HLS_skip=YES version; nil if gohlslib gave none
}

// has reports whether part of segment msn is listed in st, with the rule
// of the LL-HLS specification: a part index past the end of its segment
// means the first part of the next segment.
func (st *plState) has(msn, part uint64) bool {
	switch {
	case msn+1 < st.next:
		return true
	case msn+1 == st.next:
		return part < uint64(st.lastParts) || st.parts > 0
	case msn == st.next:
		return part < uint64(st.parts)
	}
	return false
}

// outOfRange reports a blocking reload refused with 400, as gohlslib
// does: a segment more than one after the one being built, or one before
// the playlist's first (gohlslib also refuses the first; players never
// ask for it).
func (st *plState) outOfRange(msn uint64) bool {
	return msn > st.next+1 || msn < st.first
}

// newPlState reads a media playlist gohlslib rendered without a query.
func newPlState(res *bufferedWriter, ll bool, seq uint64) (*plState, *playlist.Media, error) {
	body := res.bytes()
	if fixed, ok := fixPartHoldBack(body); ok {
		body = fixed
	}
	var pl playlist.Media
	if err := pl.Unmarshal(body); err != nil {
		return nil, nil, fmt.Errorf("media playlist: %w", err)
	}
	st := &plState{
		changed:      make(chan struct{}),
		ready:        true,
		full:         newURITemplate(body),
		ctype:        []string{res.header.Get("Content-Type")},
		cacheControl: []string{res.header.Get("Cache-Control")},
		etag:         []string{`"` + strconv.FormatUint(seq, 36) + `"`},
		length:       []string{strconv.Itoa(len(body))},
		ll:           ll,
		first:        uint64(max(pl.MediaSequence, 0)),
		count:        len(pl.Segments),
		parts:        len(pl.Parts),
	}
	st.next = st.first + uint64(st.count)
	for _, s := range pl.Segments {
		if !s.Gap {
			st.media++
		}
	}
	if st.count > 0 {
		st.lastParts = len(pl.Segments[st.count-1].Parts)
	}
	if pl.PreloadHint != nil {
		st.hint = pl.PreloadHint.URI
	}
	return st, &pl, nil
}

// deltaUpdate returns the playlist for _HLS_skip requests, rendered once
// per version (it may be a moment newer than st, which a player accepts).
func (st *plState) deltaUpdate(sm *streamMuxer, name string) *uriTemplate {
	st.deltaOnce.Do(func() {
		res := sm.get(name, "_HLS_skip=YES") // does not block
		if res.status != http.StatusOK {
			return
		}
		body := res.bytes()
		if fixed, ok := fixPartHoldBack(body); ok {
			body = fixed
		}
		t := newURITemplate(body)
		st.delta = &t
	})
	return st.delta
}

// follow keeps f current until the muxer closes: with LL-HLS it asks
// gohlslib for the playlist that holds the part after the last one it
// has (a blocking reload, answered when that part is complete); otherwise
// it asks again each time the writer pokes (a segment may have ended).
// Before publishing a version it fetches the files that version lists
// into the file cache, so that a player never sees a name it cannot get
// at once.
func (sm *streamMuxer) follow(f *playlistFeed) {
	defer func() {
		f.publish(&plState{changed: make(chan struct{}), closed: true})
	}()
	query := ""
	var seq uint64
	for {
		poked := sm.pokes()
		res := sm.get(f.name, query)
		if res.status != http.StatusOK {
			if res.status == http.StatusBadRequest && query != "" && sm.ctx.Err() == nil {
				query = "" // fell out of range: resynchronise with a plain reload
				continue
			}
			return // closed
		}
		seq++
		st, pl, err := newPlState(res, sm.ll, seq)
		if err != nil {
			sm.log.Warn("unreadable HLS media playlist", "playlist", f.name, "err", err)
			return
		}
		if sm.files != nil {
			sm.fetchListed(f, pl, st)
		}
		f.publish(st)
		if sm.files != nil {
			sm.files.prune(f, st.first)
		}
		if sm.ll {
			query = "_HLS_msn=" + strconv.FormatUint(st.next, 10) + "&_HLS_part=" + strconv.Itoa(st.parts)
			continue
		}
		select {
		case <-poked:
		case <-sm.ctx.Done():
			return
		}
	}
}

// fetchListed copies into the file cache the files pl lists that it does
// not hold yet.
func (sm *streamMuxer) fetchListed(f *playlistFeed, pl *playlist.Media, st *plState) {
	if pl.Map != nil {
		sm.fetchFile(f, pl.Map.URI, initMSN)
	}
	for i, s := range pl.Segments {
		if s.Gap {
			continue
		}
		msn := st.first + uint64(i)
		names := make([]string, len(s.Parts))
		for k, p := range s.Parts {
			sm.fetchFile(f, p.URI, msn)
			names[k] = p.URI
		}
		if len(names) > 0 && validName(s.URI) && !sm.files.has(s.URI) {
			if sm.dir == "" {
				// memStorage joined the parts: share its bytes, and
				// re-point the parts' entries into them.
				if sf := sm.fetchFile(f, s.URI, msn); sf != nil && !sm.files.adoptParts(sf, names) {
					sm.log.Debug("HLS segment is not its parts end to end", "segment", s.URI)
				}
			} else if sf := sm.files.joinParts(names, f, msn); sf != nil {
				sm.files.put(s.URI, sf)
			}
		}
		sm.fetchFile(f, s.URI, msn) // when it was not made of its parts
	}
	for _, p := range pl.Parts {
		sm.fetchFile(f, p.URI, st.next)
	}
}

// fetchFile puts the file name into the file cache, unless it is there
// already, and returns the new entry (nil when none was added).
func (sm *streamMuxer) fetchFile(f *playlistFeed, name string, msn uint64) *servedFile {
	if !validName(name) || sm.files.has(name) {
		return nil
	}
	res := sm.get(name, "") // listed files exist: this does not block
	if res.status != http.StatusOK {
		return nil
	}
	sf := newServedFile(res, f, msn)
	sm.files.put(name, sf)
	return sf
}
