package hls

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// directives are the LL-HLS delivery directives of a playlist request.
type directives struct {
	msn, part       uint64
	hasMSN, hasPart bool
	skip            bool // _HLS_skip=YES or v2: a delta update
	bad             bool // a directive that does not parse
	other           bool // the query has other parameters, which URIs repeat
}

// parseDirectives reads the query of a playlist request without
// allocating: players send only the directives, or nothing.
func parseDirectives(raw string) directives {
	var d directives
	for raw != "" {
		var kv string
		kv, raw, _ = strings.Cut(raw, "&")
		k, v, _ := strings.Cut(kv, "=")
		var err error
		switch k {
		case "":
		case "_HLS_msn":
			d.msn, err = strconv.ParseUint(v, 10, 64)
			d.hasMSN = true
		case "_HLS_part":
			d.part, err = strconv.ParseUint(v, 10, 64)
			d.hasPart = true
		case "_HLS_skip":
			d.skip = v == "YES" || v == "v2"
		default:
			d.other = true
		}
		if err != nil {
			d.bad = true
		}
	}
	return d
}

// servePlaylist answers a media playlist from its feed: at once, or for an
// LL-HLS blocking reload once the part asked for is listed (or after
// ReadyTimeout with the current version, so that players keep polling
// through a stall, as during an origin failover).
func (s *Server) servePlaylist(w http.ResponseWriter, r *http.Request, sm *streamMuxer, f *playlistFeed) {
	d := parseDirectives(r.URL.RawQuery)
	st := f.state()
	if st.ll {
		switch {
		case d.bad, d.hasPart && !d.hasMSN:
			httpError(w, http.StatusBadRequest, "bad request")
			return
		case d.hasMSN:
			var ok bool
			if st, ok = s.waitPart(w, r, f, d); !ok {
				return
			}
		}
	}
	if st.closed || !st.ready {
		notFound(w)
		return
	}
	tmpl, length := &st.full, st.length
	if st.ll && d.skip {
		if dt := st.deltaUpdate(sm, f.name); dt != nil {
			tmpl, length = dt, nil
		}
	}
	var body []byte
	if d.other {
		body, length = tmpl.render(playerQuery(r.URL.RawQuery)), nil
	} else {
		body = tmpl.body
	}
	if length == nil {
		length = []string{strconv.Itoa(len(body))}
	}
	sm.viewers.touch(clientID(r), s.now())
	h := w.Header()
	h["Content-Type"] = st.ctype
	h["Cache-Control"] = st.cacheControl
	h["Etag"] = st.etag
	if inm := r.Header["If-None-Match"]; len(inm) == 1 && inm[0] == st.etag[0] && !d.skip {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h["Content-Length"] = length
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// waitPart waits until f lists the part d asks for. It answers the
// request itself, and returns false, when it must not be served: a
// segment out of range (400), or a client that went away.
func (s *Server) waitPart(w http.ResponseWriter, r *http.Request, f *playlistFeed, d directives) (*plState, bool) {
	st := f.state()
	var timeout <-chan time.Time
	for !st.closed && !st.has(d.msn, d.part) {
		if st.ready && st.outOfRange(d.msn) {
			httpError(w, http.StatusBadRequest, "bad request")
			return nil, false
		}
		if timeout == nil {
			t := time.NewTimer(s.cfg.ReadyTimeout)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-st.changed:
			st = f.state()
		case <-timeout:
			return st, true // the current version
		case <-r.Context().Done():
			w.WriteHeader(http.StatusServiceUnavailable) // nobody reads it
			return nil, false
		}
	}
	return st, true
}

// waitHint answers a request for a part that a playlist announced with
// its preload hint: it waits for the part to be complete (at most
// ReadyTimeout), as LL-HLS players expect. It reports false when file is
// no feed's current hint; true when it answered.
func (s *Server) waitHint(w http.ResponseWriter, r *http.Request, sm *streamMuxer, file string) bool {
	if !strings.Contains(file, "_part") {
		return false
	}
	for _, f := range sm.feedList {
		st := f.state()
		if st.hint != file {
			continue
		}
		t := time.NewTimer(s.cfg.ReadyTimeout)
		defer t.Stop()
		for st.hint == file && !st.closed {
			select {
			case <-st.changed:
				st = f.state()
			case <-t.C:
				httpError(w, http.StatusServiceUnavailable, "timed out")
				return true
			case <-r.Context().Done():
				w.WriteHeader(http.StatusServiceUnavailable) // nobody reads it
				return true
			}
		}
		if sf := sm.files.get(file); sf != nil {
			sf.write(w)
		} else {
			notFound(w) // the muxer closed
		}
		return true
	}
	return false
}
