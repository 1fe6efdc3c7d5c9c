package hls

import (
	"strings"
	"testing"
)

const multivariantLL = `#EXTM3U
#EXT-X-VERSION:9
#EXT-X-INDEPENDENT-SEGMENTS

#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="audio2",AUTOSELECT=YES,DEFAULT=YES,URI="audio2_stream.m3u8?token=t"

#EXT-X-STREAM-INF:BANDWIDTH=1,AVERAGE-BANDWIDTH=1,CODECS="avc1.64001f,mp4a.40.2",RESOLUTION=320x240,FRAME-RATE=30.000,AUDIO="audio"
video1_stream.m3u8?token=t
`

const mediaLL = `#EXTM3U
#EXT-X-VERSION:9
#EXT-X-TARGETDURATION:1
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.58334,CAN-SKIP-UNTIL=6.00000
#EXT-X-PART-INF:PART-TARGET=0.23334
#EXT-X-MEDIA-SEQUENCE:0
#EXT-X-MAP:URI="a1b2c3d4e5f6_video1_init.mp4?token=t"
#EXT-X-GAP
#EXTINF:1.00000,
gap.mp4
#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:00Z
#EXT-X-PART:DURATION=0.23334,URI="a1b2c3d4e5f6_video1_part0.mp4?token=t",INDEPENDENT=YES
#EXTINF:1.00000,
a1b2c3d4e5f6_video1_seg7.mp4?token=t
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="a1b2c3d4e5f6_video1_part5.mp4?token=t"
`

const mediaTS = `#EXTM3U
#EXT-X-VERSION:3
#EXT-X-TARGETDURATION:2
#EXT-X-MEDIA-SEQUENCE:0
#EXTINF:1.96667,
0f0f0f0f0f0f_main_seg0.ts
#EXTINF:1.00000,
0f0f0f0f0f0f_main_seg1.ts
`

func TestRewriteMultivariant(t *testing.T) {
	got := string(rewriteMultivariant([]byte(multivariantLL), "a1b2c3d4e5f6"))
	for _, want := range []string{
		`URI="a1b2c3d4e5f6_audio2_stream.m3u8?token=t"`,
		"\na1b2c3d4e5f6_video1_stream.m3u8?token=t\n",
		`CODECS="avc1.64001f,mp4a.40.2"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("rewritten playlist lacks %q:\n%s", want, got)
		}
	}
	if strings.Count(got, "a1b2c3d4e5f6_") != 2 || len(got) != len(multivariantLL)+2*13 {
		t.Errorf("rewrite changed more than the two URIs:\n%s", got)
	}
}

func TestPlaylistScans(t *testing.T) {
	if u, ok := firstURI([]byte(multivariantLL)); !ok || u != "video1_stream.m3u8" {
		t.Errorf("firstURI = %q, %v", u, ok)
	}
	for _, tc := range []struct {
		name, pl, prefix string
		segments         int
	}{
		{"low-latency", mediaLL, "a1b2c3d4e5f6", 1},
		{"mpegts", mediaTS, "0f0f0f0f0f0f", 2},
		{"empty", "#EXTM3U\n", "", 0},
		{"gaps only", "#EXTM3U\n#EXT-X-GAP\n#EXTINF:1,\ngap.mp4\n", "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, ok := muxerPrefix([]byte(tc.pl))
			if p != tc.prefix || ok != (tc.prefix != "") {
				t.Errorf("muxerPrefix = %q, %v; want %q", p, ok, tc.prefix)
			}
			if n := countSegments([]byte(tc.pl)); n != tc.segments {
				t.Errorf("countSegments = %d, want %d", n, tc.segments)
			}
		})
	}
}

func TestFixPartHoldBack(t *testing.T) {
	got, ok := fixPartHoldBack([]byte(mediaLL))
	if !ok {
		t.Fatal("PART-HOLD-BACK 2.5 x target left as is")
	}
	want := strings.Replace(mediaLL, "PART-HOLD-BACK=0.58334", "PART-HOLD-BACK=0.70002", 1)
	if string(got) != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if _, ok := fixPartHoldBack(got); ok {
		t.Error("fixed playlist fixed again")
	}
	if _, ok := fixPartHoldBack([]byte(mediaTS)); ok {
		t.Error("playlist without parts changed")
	}
}

func FuzzPlaylists(f *testing.F) {
	f.Add(multivariantLL, "a1b2c3d4e5f6")
	f.Add(mediaLL, "000000000000")
	f.Add(mediaTS, "0f0f0f0f0f0f")
	f.Add("#EXT-X-MEDIA:URI=\"\n#EXT-X-MAP:URI=\"", "abcdefabcdef")
	f.Fuzz(func(t *testing.T, pl, prefix string) {
		out := rewriteMultivariant([]byte(pl), prefix)
		if len(out) < len(pl) && !strings.Contains(pl, "\r") { // CRLF becomes LF
			t.Fatalf("rewrite shrank the playlist")
		}
		if p, ok := muxerPrefix([]byte(pl)); ok && (len(p) != prefixLen || !isLowerHex(p)) {
			t.Fatalf("muxerPrefix = %q", p)
		}
		if b, ok := fixPartHoldBack([]byte(pl)); ok && !strings.Contains(string(b), "PART-HOLD-BACK=") {
			t.Fatalf("fixPartHoldBack lost the attribute")
		}
		if countSegments([]byte(pl)) < 0 {
			t.Fatal("negative count")
		}
		firstURI([]byte(pl))
	})
}
