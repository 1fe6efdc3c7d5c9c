package hls

import (
	"net/url"
	"strings"
	"testing"

	"github.com/colony-live/colony/core/stream"
)

func TestParseTarget(t *testing.T) {
	for _, tc := range []struct {
		path string
		want target // zero: refused
	}{
		{"/LiveApp/streams/stream1.m3u8", target{key: stream.Key{App: "LiveApp", ID: "stream1"}, main: true, app: "LiveApp"}},
		{"/LiveApp/streams/my.stream-1_x.m3u8", target{key: stream.Key{App: "LiveApp", ID: "my.stream-1_x"}, main: true, app: "LiveApp"}},
		{"/LiveApp/streams/0123456789ab_video1_stream.m3u8", target{prefix: "0123456789ab", file: "video1_stream.m3u8", app: "LiveApp"}},
		{"/LiveApp/streams/0123456789ab_main_stream.m3u8", target{prefix: "0123456789ab", file: "main_stream.m3u8", app: "LiveApp"}},
		{"/LiveApp/streams/0123456789ab_video1_seg7.mp4", target{prefix: "0123456789ab", file: "0123456789ab_video1_seg7.mp4", app: "LiveApp"}},
		{"/LiveApp/streams/0123456789ab_main_seg3.ts", target{prefix: "0123456789ab", file: "0123456789ab_main_seg3.ts", app: "LiveApp"}},
		{"/WebRTCAppEE/streams/0123456789ab_audio2_part12.mp4", target{prefix: "0123456789ab", file: "0123456789ab_audio2_part12.mp4", app: "WebRTCAppEE"}},
		{"/LiveApp/streams/stream1_adaptive.m3u8", target{key: stream.Key{App: "LiveApp", ID: "stream1"}, main: true, adaptive: true, app: "LiveApp"}},
		{"/LiveApp/streams/_adaptive.m3u8", target{key: stream.Key{App: "LiveApp", ID: "_adaptive"}, main: true, app: "LiveApp"}},
		// Upper-case hex is not gohlslib's: a stream id like any other.
		{"/LiveApp/streams/0123456789AB_video1_stream.m3u8", target{key: stream.Key{App: "LiveApp", ID: "0123456789AB_video1_stream"}, main: true, app: "LiveApp"}},
		{"/LiveApp/streams/stream1.ts", target{}},
		{"/LiveApp/streams/gap.mp4", target{}},
		{"/LiveApp/streams/", target{}},
		{"/LiveApp/streams/.m3u8", target{}},
		{"/LiveApp/streams/..m3u8", target{}},
		{"/LiveApp/streams/a/b.m3u8", target{}},
		{"/LiveApp/streams/../x.m3u8", target{}},
		{"/LiveApp/streams/..%2fx.m3u8", target{}},
		{"/LiveApp/streams/%2e%2e%2fx.m3u8", target{}},
		{"/LiveApp/streams/x%41.m3u8", target{}},
		{"/LiveApp/streams/x\\y.m3u8", target{}},
		{"/LiveApp/streams/x y.m3u8", target{}},
		{"/LiveApp/streamsx/y.m3u8", target{}},
		{"/LiveApp/y.m3u8", target{}},
		{"LiveApp/streams/y.m3u8", target{}},
		{"/../streams/y.m3u8", target{}},
		{"/Live..App/streams/y.m3u8", target{}},
		{"//streams/y.m3u8", target{}},
		{"/LiveApp/streams/" + strings.Repeat("x", stream.MaxIDLen+1) + ".m3u8", target{}},
	} {
		t.Run(tc.path, func(t *testing.T) {
			u, err := url.Parse(tc.path)
			if err != nil {
				u = &url.URL{Path: tc.path}
			}
			got, ok := parseTarget(u)
			if ok != (tc.want != target{}) || got != tc.want {
				t.Errorf("parseTarget(%q) = %+v, %v; want %+v", tc.path, got, ok, tc.want)
			}
		})
	}
}

func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{
		"/LiveApp/streams/stream1.m3u8", "/LiveApp/streams/0123456789ab_video1_stream.m3u8", "/LiveApp/streams/s1_adaptive.m3u8",
		"/LiveApp/streams/0123456789ab_video1_seg7.mp4", "/LiveApp/streams/..%2f..%2fetc%2fpasswd",
		"/LiveApp/streams/%2e%2e/x", "/a/streams/..", "/LiveApp/streams/x%00.m3u8",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := url.Parse(raw)
		if err != nil {
			return
		}
		tg, ok := parseTarget(u)
		if !ok {
			return
		}
		// Whatever is accepted is a plain file name under /{app}/streams/.
		if strings.Contains(u.Path, "..") || strings.ContainsAny(u.Path, "%\\\x00") ||
			strings.Count(u.Path, "/") != 3 {
			t.Fatalf("accepted %q (path %q): %+v", raw, u.Path, tg)
		}
		if tg.main {
			if _, err := stream.ParseKey(string(tg.key.App), string(tg.key.ID)); err != nil {
				t.Fatalf("accepted invalid key %+v: %v", tg.key, err)
			}
		} else if len(tg.prefix) != prefixLen || strings.ContainsAny(tg.file, "/\\") || tg.file == "" {
			t.Fatalf("bad muxer file target %+v", tg)
		}
	})
}
