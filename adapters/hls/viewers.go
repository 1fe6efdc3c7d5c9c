package hls

import (
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

const (
	// viewerWindow: a client counts as a viewer for this long after its
	// last request.
	viewerWindow = 10 * time.Second
	// maxViewerEntries bounds the memory one stream's viewer set may use.
	maxViewerEntries = 100_000
	// maxUserAgent bounds the part of the User-Agent kept in a client id.
	maxUserAgent = 200
	// sessionParam is the query parameter that names a player session;
	// the muxer repeats the playlist's query in every URI it lists.
	sessionParam = "sessionId"
)

// viewers tracks which clients fetched something of one stream recently.
type viewers struct {
	mu        sync.Mutex
	lastSeen  map[string]time.Time
	lastSweep time.Time
}

// touch records a request of client at now.
func (v *viewers) touch(client string, now time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.lastSeen == nil {
		v.lastSeen = make(map[string]time.Time)
	}
	if now.Sub(v.lastSweep) >= viewerWindow || len(v.lastSeen) >= maxViewerEntries {
		v.sweepLocked(now)
	}
	if _, ok := v.lastSeen[client]; ok || len(v.lastSeen) < maxViewerEntries {
		v.lastSeen[client] = now
	}
}

// count returns how many clients made a request within viewerWindow of now.
func (v *viewers) count(now time.Time) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.sweepLocked(now)
	return len(v.lastSeen)
}

func (v *viewers) sweepLocked(now time.Time) {
	for c, t := range v.lastSeen {
		if now.Sub(t) >= viewerWindow {
			delete(v.lastSeen, c)
		}
	}
	v.lastSweep = now
}

// clientID names the client of r: its session id when the URL has one,
// else its address and User-Agent.
func clientID(r *http.Request) string {
	// Parsing the query allocates: LL-HLS players send one with every
	// blocking reload, a session id rarely.
	if strings.Contains(r.URL.RawQuery, sessionParam+"=") {
		if sid := r.URL.Query().Get(sessionParam); sid != "" && len(sid) <= 128 {
			return "s\x00" + sid
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ua := r.UserAgent()
	if len(ua) > maxUserAgent {
		ua = ua[:maxUserAgent]
	}
	return "a\x00" + host + "\x00" + ua
}
