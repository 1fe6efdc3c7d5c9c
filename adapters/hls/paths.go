package hls

import (
	"net/url"
	"strings"

	"github.com/colony-live/colony/core/stream"
)

// URL layout, everything flat under /{app}/streams/ as in Ant Media:
//
//	/{app}/streams/{id}.m3u8                    multivariant playlist (the URL players get)
//	/{app}/streams/{id}_adaptive.m3u8           adaptive multivariant playlist (adaptive.go)
//	/{app}/streams/{prefix}_video1_stream.m3u8  media playlists (audio2_..., main_... for MPEG-TS)
//	/{app}/streams/{prefix}_video1_init.mp4     fMP4 init, then ..._seg7.mp4, ..._part3.mp4, ..._seg0.ts
//
// {prefix} is the 12 hex digits gohlslib puts in front of every segment,
// part and init file name of one muxer. The server learns it once, when the
// muxer has its first segments, and routes every file that starts with it
// to that muxer. gohlslib's media playlists only reference prefixed files,
// so they are served untouched; only the multivariant playlist, fetched
// once per player session, is rewritten, to prefix its media playlist
// names (which gohlslib leaves bare: video1_stream.m3u8 would be the same
// for every stream). That is the cheapest correct routing: no per-request
// rewriting of the playlists that LL-HLS players reload several times a
// second, and a republished stream (a new muxer, a new random prefix)
// never collides with files of the previous one still cached by players
// or CDNs.

const (
	// prefixLen is the length of gohlslib's file prefix (6 random bytes in hex).
	prefixLen = 12
	// maxNameLen bounds a file name: a stream id plus ".m3u8", or a muxer file.
	maxNameLen = stream.MaxIDLen + 32
	// playlistExt ends every playlist name.
	playlistExt = ".m3u8"
	// mediaPlaylistSuffix ends gohlslib's media playlist names.
	mediaPlaylistSuffix = "_stream" + playlistExt
)

// target is what a request path names.
type target struct {
	// key is the stream of a multivariant playlist request (main is true),
	// of an adaptive one when adaptive is true too.
	key      stream.Key
	main     bool
	adaptive bool
	// prefix and file name a muxer's file: file is its name for gohlslib.
	prefix, file string
	app          stream.App
}

// parseTarget reads a request URL of the form /{app}/streams/{name}. It
// refuses anything that is not exactly that with plain names: encoded
// characters, dot segments, extra or empty segments, foreign characters.
func parseTarget(u *url.URL) (target, bool) {
	if u.RawPath != "" || strings.Contains(u.Path, "%") {
		return target{}, false // valid names never need percent-encoding
	}
	rest, ok := strings.CutPrefix(u.Path, "/")
	if !ok {
		return target{}, false
	}
	appName, rest, ok := strings.Cut(rest, "/")
	if !ok {
		return target{}, false
	}
	name, ok := strings.CutPrefix(rest, "streams/")
	if !ok || !validName(name) {
		return target{}, false
	}
	app, err := stream.ParseApp(appName)
	if err != nil {
		return target{}, false
	}
	if p, file, ok := splitPrefix(name); ok {
		return target{prefix: p, file: file, app: app}, true
	}
	id, ok := strings.CutSuffix(name, playlistExt)
	if !ok {
		return target{}, false
	}
	adaptive := false
	if base, ok := strings.CutSuffix(id, adaptiveSuffix); ok && base != "" {
		id, adaptive = base, true
	}
	key, err := stream.ParseKey(appName, id)
	if err != nil {
		return target{}, false
	}
	return target{key: key, main: true, adaptive: adaptive, app: app}, true
}

// splitPrefix splits a muxer file name into its prefix and the name
// gohlslib knows it by: media playlists without the prefix (only the
// multivariant rewrite adds it), every other file as is.
func splitPrefix(name string) (prefix, file string, ok bool) {
	if len(name) <= prefixLen+1 || name[prefixLen] != '_' || !isLowerHex(name[:prefixLen]) {
		return "", "", false
	}
	prefix, rest := name[:prefixLen], name[prefixLen+1:]
	if strings.HasSuffix(rest, mediaPlaylistSuffix) {
		return prefix, rest, true
	}
	return prefix, name, true
}

// validName reports whether name is one path segment of letters, digits,
// '_', '-' and '.', without "..".
func validName(name string) bool {
	if name == "" || len(name) > maxNameLen || strings.Contains(name, "..") {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// Takes reports whether a request line names what Server.Route answers
// itself, a GET or HEAD of a path of the form /{app}/streams/{name}, from
// the raw request-target (path and query), before the request is parsed:
// the HTTP lane (adapters/http1) answers these. It is a cheap pre-check;
// Route still parses the path, and hands on what it does not serve.
func Takes(method, requestTarget string) bool {
	if method != "GET" && method != "HEAD" {
		return false
	}
	p, _, _ := strings.Cut(requestTarget, "?")
	rest, ok := strings.CutPrefix(p, "/")
	if !ok {
		return false
	}
	_, rest, ok = strings.Cut(rest, "/")
	if !ok {
		return false
	}
	name, ok := strings.CutPrefix(rest, "streams/")
	return ok && name != "" && !strings.Contains(name, "/")
}
