package hls

import (
	"strings"
	"testing"
)

const llMediaPlaylist = `#EXTM3U
#EXT-X-VERSION:10
#EXT-X-TARGETDURATION:1
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.60000,CAN-SKIP-UNTIL=6.00000
#EXT-X-PART-INF:PART-TARGET=0.20000
#EXT-X-MEDIA-SEQUENCE:3
#EXT-X-MAP:URI="0123456789ab_video1_init.mp4"
#EXT-X-GAP
#EXTINF:1.00000,
gap.mp4
#EXTINF:1.00000,
0123456789ab_video1_seg9.mp4
#EXT-X-PART:DURATION=0.20000,URI="0123456789ab_video1_part40.mp4",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.20000,URI="0123456789ab_video1_part41.mp4"
#EXTINF:1.00000,
0123456789ab_video1_seg10.mp4
#EXT-X-PART:DURATION=0.20000,URI="0123456789ab_video1_part42.mp4",INDEPENDENT=YES
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="0123456789ab_video1_part43.mp4"
`

func TestURITemplate(t *testing.T) {
	tmpl := newURITemplate([]byte(llMediaPlaylist))
	if got := tmpl.render(""); string(got) != llMediaPlaylist {
		t.Fatalf("render without a query changed the playlist:\n%s", got)
	}
	for _, crlf := range []bool{false, true} {
		pl := llMediaPlaylist
		if crlf {
			pl = strings.ReplaceAll(pl, "\n", "\r\n")
		}
		tm := newURITemplate([]byte(pl))
		got := string(tm.render("token=a%26b&sessionId=s1"))
		want := pl
		for _, name := range []string{"init.mp4", "seg9.mp4", "seg10.mp4", "part40.mp4", "part41.mp4", "part42.mp4", "part43.mp4", "gap.mp4"} {
			want = strings.Replace(want, name, name+"?token=a%26b&sessionId=s1", 1)
		}
		if got != want {
			t.Errorf("crlf %v: render with a query:\n%s\nwant\n%s", crlf, got, want)
		}
	}
}

func TestPlayerQuery(t *testing.T) {
	for raw, want := range map[string]string{
		"":                                  "",
		"_HLS_msn=3&_HLS_part=1":            "",
		"sessionId=x&_HLS_skip=YES":         "sessionId=x",
		`token=a"b&_HLS_msn=2`:              "token=a%22b",
		"b=2&a=1":                           "a=1&b=2",
		"_HLS_msn=1&token=t&_HLS_part=0&x=": "token=t&x=",
	} {
		if got := playerQuery(raw); got != want {
			t.Errorf("playerQuery(%q) = %q, want %q", raw, got, want)
		}
	}
}

func FuzzURITemplate(f *testing.F) {
	f.Add([]byte(llMediaPlaylist), "token=x")
	f.Add([]byte("#EXT-X-MAP:URI=\"a\nb\r\n\n#URI=\""), "")
	f.Fuzz(func(t *testing.T, pl []byte, q string) {
		tmpl := newURITemplate(pl)
		if string(tmpl.render("")) != string(pl) {
			t.Fatal("render without a query is not the playlist")
		}
		got := tmpl.render(q)
		if len(got) != len(pl)+len(tmpl.ends)*(len(q)+1) && q != "" {
			t.Fatalf("render added %d bytes for %d URIs", len(got)-len(pl), len(tmpl.ends))
		}
	})
}
