package hls

import (
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

func TestViewersWindow(t *testing.T) {
	var v viewers
	t0 := time.Unix(1000, 0)
	v.touch("a", t0)
	v.touch("b", t0.Add(4*time.Second))
	v.touch("a", t0.Add(5*time.Second))
	for _, tc := range []struct {
		at   time.Duration
		want int
	}{
		{5 * time.Second, 2},
		{14*time.Second - time.Millisecond, 2},
		{14 * time.Second, 1}, // b last seen at 4 s
		{15 * time.Second, 0},
	} {
		if got := v.count(t0.Add(tc.at)); got != tc.want {
			t.Errorf("count at %v = %d, want %d", tc.at, got, tc.want)
		}
	}
}

func TestViewersBounded(t *testing.T) {
	var v viewers
	now := time.Unix(1000, 0)
	for i := range maxViewerEntries + 10 {
		v.touch(strconv.Itoa(i), now)
	}
	if n := v.count(now); n != maxViewerEntries {
		t.Errorf("count = %d, want the bound %d", n, maxViewerEntries)
	}
}

func TestClientID(t *testing.T) {
	mk := func(target, addr, ua string) string {
		r := httptest.NewRequest("GET", target, nil)
		r.RemoteAddr = addr
		r.Header.Set("User-Agent", ua)
		return clientID(r)
	}
	a := mk("/x.m3u8", "10.0.0.1:1234", "hls.js")
	if a != mk("/y.mp4", "10.0.0.1:9999", "hls.js") {
		t.Error("same address and User-Agent on another port must be the same client")
	}
	if a == mk("/x.m3u8", "10.0.0.1:1234", "AppleCoreMedia") || a == mk("/x.m3u8", "10.0.0.2:1234", "hls.js") {
		t.Error("other User-Agent or address must be another client")
	}
	s1 := mk("/x.m3u8?sessionId=abc", "10.0.0.1:1", "hls.js")
	if s1 == a || s1 != mk("/y.mp4?sessionId=abc", "10.0.0.9:1", "other") {
		t.Error("a session id names the client whatever its address")
	}
}
