package hls

import (
	"bytes"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseDirectives(t *testing.T) {
	tests := []struct {
		raw  string
		want directives
	}{
		{"", directives{}},
		{"_HLS_msn=12&_HLS_part=3", directives{msn: 12, part: 3, hasMSN: true, hasPart: true}},
		{"_HLS_msn=12", directives{msn: 12, hasMSN: true}},
		{"_HLS_skip=YES&_HLS_msn=1", directives{msn: 1, hasMSN: true, skip: true}},
		{"_HLS_skip=v2", directives{skip: true}},
		{"_HLS_skip=NO", directives{}},
		{"_HLS_msn=x", directives{hasMSN: true, bad: true}},
		{"_HLS_part=-1&_HLS_msn=1", directives{msn: 1, hasMSN: true, hasPart: true, bad: true}},
		{"sessionId=abc&_HLS_msn=4", directives{msn: 4, hasMSN: true, other: true}},
		{"&&", directives{}},
	}
	for _, tt := range tests {
		if got := parseDirectives(tt.raw); got != tt.want {
			t.Errorf("parseDirectives(%q) = %+v, want %+v", tt.raw, got, tt.want)
		}
	}
}

func FuzzParseDirectives(f *testing.F) {
	f.Add("_HLS_msn=12&_HLS_part=3&token=x")
	f.Add("_HLS_skip=YES")
	f.Fuzz(func(t *testing.T, raw string) {
		d := parseDirectives(raw)
		if d.hasMSN && !d.bad && !strings.Contains(raw, "_HLS_msn="+strconv.FormatUint(d.msn, 10)) &&
			!strings.Contains(raw, "_HLS_msn=0") && !strings.Contains(raw, "_HLS_msn=+") {
			t.Fatalf("msn %d not in %q", d.msn, raw)
		}
	})
}

func TestPlStateHas(t *testing.T) {
	// Segments 3..9 listed (7), segment 10 being built with 2 parts; 9 had 5.
	st := &plState{ready: true, first: 3, count: 7, next: 10, lastParts: 5, parts: 2}
	tests := []struct {
		msn, part uint64
		has, out  bool
	}{
		{8, 99, true, false},
		{9, 4, true, false},
		{9, 5, true, false}, // past the end of 9: part 0 of 10, listed
		{10, 1, true, false},
		{10, 2, false, false}, // the next part: a blocking reload waits
		{11, 0, false, false},
		{12, 0, false, true},
		{3, 0, true, false},
		{2, 0, true, true}, // before the playlist
	}
	for _, tt := range tests {
		if got := st.has(tt.msn, tt.part); got != tt.has {
			t.Errorf("has(%d, %d) = %v", tt.msn, tt.part, got)
		}
		if got := st.outOfRange(tt.msn); got != tt.out {
			t.Errorf("outOfRange(%d) = %v", tt.msn, got)
		}
	}
	first := &plState{ready: true, first: 0, count: 8, next: 8, lastParts: 5, parts: 0}
	if first.has(7, 5) {
		t.Error("part 0 of the segment being built is listed before it exists")
	}
}

// TestPlaylistRevalidation: a media playlist carries an ETag; a player
// that sends it back while nothing changed gets 304, and a new version
// once the next part exists.
func TestPlaylistRevalidation(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	ts.publish(t, mustKey(t, "LiveApp", "etag"), 3*time.Second)
	_, mediaPath := ts.mainPlaylist(t, "etag")
	code, pl, hdr := ts.get(t, mediaPath)
	etag := hdr.Get("ETag")
	if code != http.StatusOK || etag == "" || hdr.Get("Cache-Control") != "no-cache" {
		t.Fatalf("media playlist: %d, ETag %q, Cache-Control %q", code, etag, hdr.Get("Cache-Control"))
	}
	code, _, _ = ts.do(t, http.MethodGet, mediaPath, http.Header{"If-None-Match": {etag}})
	if code != http.StatusNotModified {
		// The next part may have come meanwhile: then the ETag moved on.
		if _, _, h2 := ts.get(t, mediaPath); h2.Get("ETag") == etag {
			t.Errorf("If-None-Match with the current ETag: %d, want 304", code)
		}
	}
	segs := uris(pl)
	msn := int(floatOf(t, mediaSeqRe, pl)) + len(segs)
	part := strings.Count(pl[strings.LastIndex(pl, segs[len(segs)-1]):], "#EXT-X-PART:")
	q := "?_HLS_msn=" + strconv.Itoa(msn) + "&_HLS_part=" + strconv.Itoa(part)
	code, _, h3 := ts.do(t, http.MethodGet, mediaPath+q, http.Header{"If-None-Match": {etag}})
	if code != http.StatusOK || h3.Get("ETag") == etag {
		t.Errorf("blocking reload for the next part: %d, ETag %q (was %q)", code, h3.Get("ETag"), etag)
	}
	// A segment out of range is refused, as gohlslib does.
	if code, _, _ := ts.get(t, mediaPath+"?_HLS_msn="+strconv.Itoa(msn+5)); code != http.StatusBadRequest {
		t.Errorf("blocking reload 5 segments ahead: %d, want 400", code)
	}
	if code, _, _ := ts.get(t, mediaPath+"?_HLS_part=1"); code != http.StatusBadRequest {
		t.Errorf("_HLS_part without _HLS_msn: %d, want 400", code)
	}
}

// TestCachedFilesMatchMuxer: every file the cache serves (segments joined
// from their parts, parts, init) is byte for byte what gohlslib serves,
// with segments in RAM (shared with the cache) and in files (joined by the
// cache from its parts).
func TestCachedFilesMatchMuxer(t *testing.T) {
	for _, dir := range []bool{false, true} {
		t.Run(fmt.Sprintf("directory=%v", dir), func(t *testing.T) {
			t.Parallel()
			cfg := Config{}
			if dir {
				cfg.Directory = t.TempDir()
			}
			testCachedFilesMatchMuxer(t, cfg)
		})
	}
}

func testCachedFilesMatchMuxer(t *testing.T, cfg Config) {
	ts := newTestServer(t, cfg)
	key := mustKey(t, "LiveApp", "same")
	ts.publish(t, key, 3*time.Second)
	_, mediaPath := ts.mainPlaylist(t, "same")
	_, pl, _ := ts.get(t, mediaPath)
	sm, _, _ := ts.srv.lookup(key)
	names := uris(pl)
	for _, m := range regexp.MustCompile(`URI="([^"]+)"`).FindAllStringSubmatch(pl, -1) {
		names = append(names, m[1])
	}
	checked := 0
	for _, name := range names {
		sf := sm.files.get(name)
		if name == "gap.mp4" || sf == nil {
			continue
		}
		want := sm.get(name, "")
		if want.status != http.StatusOK {
			continue // left the muxer meanwhile
		}
		if !bytes.Equal(sf.body, want.bytes()) {
			t.Errorf("%s: cached %d bytes differ from the muxer's %d", name, len(sf.body), len(want.bytes()))
		}
		checked++
	}
	if checked < 5 {
		t.Fatalf("only %d cached files checked in\n%s", checked, pl)
	}
}
