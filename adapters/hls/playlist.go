package hls

import (
	"bytes"
	"slices"
	"strconv"
	"strings"
)

// playlistLines splits a playlist into lines without their line ends.
func playlistLines(pl []byte) []string {
	lines := strings.Split(string(pl), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSuffix(l, "\r")
	}
	return lines
}

// isURILine reports whether a playlist line is a URI (not a tag or blank).
func isURILine(l string) bool {
	return l != "" && !strings.HasPrefix(l, "#")
}

// withoutQuery returns uri without its query.
func withoutQuery(uri string) string {
	u, _, _ := strings.Cut(uri, "?")
	return u
}

// firstURI returns the first URI line of a multivariant playlist: the
// leading stream's media playlist, without its query.
func firstURI(pl []byte) (string, bool) {
	for _, l := range playlistLines(pl) {
		if isURILine(l) {
			u := withoutQuery(l)
			return u, validName(u)
		}
	}
	return "", false
}

// mediaPlaylists returns the names of the media playlists a gohlslib
// multivariant playlist lists, the leading stream's (the first variant)
// first, then those of its EXT-X-MEDIA renditions.
func mediaPlaylists(pl []byte) []string {
	var out []string
	add := func(uri string) {
		u := withoutQuery(uri)
		if validName(u) && !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	if u, ok := firstURI(pl); ok {
		add(u)
	}
	for _, l := range playlistLines(pl) {
		if strings.HasPrefix(l, "#EXT-X-MEDIA:") {
			if u, ok := uriAttr(l); ok {
				add(u)
			}
		} else if isURILine(l) {
			add(l)
		}
	}
	return out
}

// countSegments returns how many segments a media playlist lists, not
// counting gap segments.
func countSegments(pl []byte) int {
	n, gap := 0, false
	for _, l := range playlistLines(pl) {
		switch {
		case l == "#EXT-X-GAP":
			gap = true
		case isURILine(l):
			if !gap {
				n++
			}
			gap = false
		}
	}
	return n
}

// uriAttr returns the URI="..." attribute of a tag line.
func uriAttr(l string) (string, bool) {
	_, v, ok := strings.Cut(l, `URI="`)
	if !ok {
		return "", false
	}
	v, _, ok = strings.Cut(v, `"`)
	return v, ok
}

// muxerPrefix returns the file prefix of a gohlslib media playlist, from
// its init file (fMP4) or its first segment (MPEG-TS). The gap segments
// Low-Latency HLS starts with have no prefix and are skipped.
func muxerPrefix(pl []byte) (string, bool) {
	for _, l := range playlistLines(pl) {
		uri := l
		if strings.HasPrefix(l, "#EXT-X-MAP:") {
			var ok bool
			if uri, ok = uriAttr(l); !ok {
				continue
			}
		} else if !isURILine(l) {
			continue
		}
		if p, _, ok := splitPrefix(withoutQuery(uri)); ok {
			return p, true
		}
	}
	return "", false
}

// rewriteMultivariant puts prefix + "_" in front of every media playlist
// URI of a gohlslib multivariant playlist: the variant lines and the URI
// attributes of EXT-X-MEDIA renditions.
func rewriteMultivariant(pl []byte, prefix string) []byte {
	var b bytes.Buffer
	b.Grow(len(pl) + 4*(prefixLen+1))
	lines := playlistLines(pl)
	for i, l := range lines {
		switch {
		case isURILine(l):
			b.WriteString(prefix + "_" + l)
		case strings.HasPrefix(l, "#EXT-X-MEDIA:") && strings.Contains(l, `URI="`):
			before, after, _ := strings.Cut(l, `URI="`)
			b.WriteString(before + `URI="` + prefix + "_" + after)
		default:
			b.WriteString(l)
		}
		if i < len(lines)-1 {
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

// minPartHoldBack is the PART-HOLD-BACK served, in part targets. gohlslib
// writes 2.5; the HLS specification asks for at least 3 (RFC 8216bis
// 4.4.3.8), and players that honour it stall less.
const minPartHoldBack = 3

// fixPartHoldBack raises the PART-HOLD-BACK of a Low-Latency HLS media
// playlist to minPartHoldBack part targets. It reports false, and returns
// nothing, when pl needs no change (not Low-Latency, or already enough).
func fixPartHoldBack(pl []byte) ([]byte, bool) {
	lines := playlistLines(pl)
	target, ctrl := -1.0, -1
	for i, l := range lines {
		if v, ok := strings.CutPrefix(l, "#EXT-X-PART-INF:PART-TARGET="); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil && f > 0 {
				target = f
			}
		} else if strings.HasPrefix(l, "#EXT-X-SERVER-CONTROL:") {
			ctrl = i
		}
	}
	if target < 0 || ctrl < 0 {
		return nil, false
	}
	attrs := strings.Split(strings.TrimPrefix(lines[ctrl], "#EXT-X-SERVER-CONTROL:"), ",")
	changed := false
	for i, a := range attrs {
		v, ok := strings.CutPrefix(a, "PART-HOLD-BACK=")
		if !ok {
			continue
		}
		if f, err := strconv.ParseFloat(v, 64); err != nil || f < minPartHoldBack*target {
			attrs[i] = "PART-HOLD-BACK=" + strconv.FormatFloat(minPartHoldBack*target, 'f', 5, 64)
			changed = true
		}
	}
	if !changed {
		return nil, false
	}
	lines[ctrl] = "#EXT-X-SERVER-CONTROL:" + strings.Join(attrs, ",")
	return []byte(strings.Join(lines, "\n")), true
}
