package hls

import (
	"bytes"
	"net/url"
	"strings"
)

// uriTemplate is a playlist rendered without a query, with the offsets at
// which each URI ends: a player's query (a token, a session id), which
// every URI must repeat, is spliced in there when it is served, so that
// the playlist is rendered once per change however many players ask.
type uriTemplate struct {
	body []byte
	ends []int // offsets in body where a URI ends, ascending
}

// newURITemplate finds the URIs of a playlist: URI lines, and the URI="..."
// attribute of tags (EXT-X-MAP, EXT-X-PART, EXT-X-PRELOAD-HINT,
// EXT-X-MEDIA).
func newURITemplate(pl []byte) uriTemplate {
	t := uriTemplate{body: pl}
	for off := 0; off < len(pl); {
		end := bytes.IndexByte(pl[off:], '\n')
		if end < 0 {
			end = len(pl)
		} else {
			end += off
		}
		line := pl[off:end]
		lineEnd := end
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line, lineEnd = line[:len(line)-1], lineEnd-1
		}
		switch {
		case len(line) == 0:
		case line[0] != '#':
			t.ends = append(t.ends, lineEnd)
		default:
			if i := bytes.Index(line, []byte(`URI="`)); i >= 0 {
				if j := bytes.IndexByte(line[i+5:], '"'); j >= 0 {
					t.ends = append(t.ends, off+i+5+j)
				}
			}
		}
		off = end + 1
	}
	return t
}

// render returns the playlist with "?"+query after every URI; the
// template's own bytes (shared: not to be modified) when query is empty.
func (t *uriTemplate) render(query string) []byte {
	if query == "" {
		return t.body
	}
	var b bytes.Buffer
	b.Grow(len(t.body) + len(t.ends)*(len(query)+1))
	prev := 0
	for _, e := range t.ends {
		b.Write(t.body[prev:e])
		b.WriteByte('?')
		b.WriteString(query)
		prev = e
	}
	b.Write(t.body[prev:])
	return b.Bytes()
}

// playerQuery returns the query a player's URIs must repeat: its own
// query without the LL-HLS delivery directives (_HLS_msn, _HLS_part,
// _HLS_skip), re-encoded so that it cannot break out of a URI="..."
// attribute. Most players send none, and that costs nothing.
func playerQuery(rawQuery string) string {
	if rawQuery == "" {
		return ""
	}
	q, _ := url.ParseQuery(rawQuery) // as http.Request.URL.Query: malformed pairs are dropped
	for k := range q {
		if strings.HasPrefix(k, "_HLS_") {
			delete(q, k)
		}
	}
	return q.Encode()
}
