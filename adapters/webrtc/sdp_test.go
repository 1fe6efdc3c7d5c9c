package webrtc

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// chromeOffer is a trimmed Chromium publish offer: VP8 first, H.264 later,
// RTX formats, and the data channel the Ant Media SDK opens.
const chromeOffer = "v=0\r\n" +
	"o=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n" +
	"s=-\r\n" +
	"t=0 0\r\n" +
	"a=group:BUNDLE 0 1 2\r\n" +
	"m=audio 9 UDP/TLS/RTP/SAVPF 111 63\r\n" +
	"c=IN IP4 0.0.0.0\r\n" +
	"a=mid:0\r\n" +
	"a=sendonly\r\n" +
	"a=rtpmap:111 opus/48000/2\r\n" +
	"a=fmtp:111 minptime=10;useinbandfec=1\r\n" +
	"a=rtpmap:63 red/48000/2\r\n" +
	"m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103 106 107 45\r\n" +
	"c=IN IP4 0.0.0.0\r\n" +
	"a=mid:1\r\n" +
	"a=sendonly\r\n" +
	"a=rtpmap:96 VP8/90000\r\n" +
	"a=rtpmap:97 rtx/90000\r\n" +
	"a=fmtp:97 apt=96\r\n" +
	"a=rtpmap:102 H264/90000\r\n" +
	"a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42001f\r\n" +
	"a=rtpmap:103 rtx/90000\r\n" +
	"a=fmtp:103 apt=102\r\n" +
	"a=rtpmap:106 H264/90000\r\n" +
	"a=fmtp:106 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n" +
	"a=rtpmap:107 rtx/90000\r\n" +
	"a=fmtp:107 apt=106\r\n" +
	"a=rtpmap:45 AV1/90000\r\n" +
	"m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n" +
	"c=IN IP4 0.0.0.0\r\n" +
	"a=mid:2\r\n" +
	"a=sctp-port:5000\r\n"

func TestParseSDP(t *testing.T) {
	info, err := parseSDP(chromeOffer)
	if err != nil {
		t.Fatal(err)
	}
	if len(info.media) != 3 {
		t.Fatalf("%d media sections, want 3", len(info.media))
	}
	checks := []struct {
		name string
		got  bool
		want bool
	}{
		{"sends video", info.sends("video"), true},
		{"sends audio", info.sends("audio"), true},
		{"receives video", info.receives("video"), false},
		{"has h264", info.hasCodec("video", "h264"), true},
		{"has vp8", info.hasCodec("video", "vp8"), true},
		{"has opus", info.hasCodec("audio", "opus"), true},
		{"has vp9", info.hasCodec("video", "vp9"), false},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestParseSDPRejects(t *testing.T) {
	for name, raw := range map[string]string{
		"empty":    "",
		"garbage":  "hello",
		"no media": "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n",
	} {
		if _, err := parseSDP(raw); !errors.Is(err, errBadSDP) {
			t.Errorf("%s: err = %v, want errBadSDP", name, err)
		}
	}
}

// TestRewriteOfferH264First: a publisher's offer has its H.264 formats
// first (packetization-mode=1 first of them), the rest in their order.
func TestRewriteOfferH264First(t *testing.T) {
	info, err := parseSDP(chromeOffer)
	if err != nil {
		t.Fatal(err)
	}
	out := rewriteOffer(chromeOffer, info, true)
	if want := "m=video 9 UDP/TLS/RTP/SAVPF 106 102 96\r\n"; !strings.Contains(out, want) {
		t.Fatalf("video line not %q:\n%s", want, out)
	}
	if want := "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"; !strings.Contains(out, want) {
		t.Fatalf("audio line not %q:\n%s", want, out)
	}
	if _, err := parseSDP(out); err != nil {
		t.Fatalf("rewritten offer does not parse: %v", err)
	}
}

// TestOfferLeavesDTLSRole: the server may take the DTLS server role only
// when the offer leaves it the choice.
func TestOfferLeavesDTLSRole(t *testing.T) {
	const head = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
	const media = "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 H264/90000\r\na=recvonly\r\n"
	for name, tc := range map[string]struct {
		sdp  string
		want bool
	}{
		"actpass":            {head + media + "a=setup:actpass\r\n", true},
		"none":               {head + media, true},
		"passive":            {head + media + "a=setup:passive\r\n", false},
		"active":             {head + media + "a=setup:active\r\n", false},
		"session-level":      {head + "a=setup:passive\r\n" + media, false},
		"upper case actpass": {head + media + "a=setup:ACTPASS\r\n", true},
	} {
		t.Run(name, func(t *testing.T) {
			info, err := parseSDP(tc.sdp)
			if err != nil {
				t.Fatal(err)
			}
			if got := info.leavesDTLSRole(); got != tc.want {
				t.Fatalf("leavesDTLSRole = %v (setup %q), want %v", got, info.setup, tc.want)
			}
		})
	}
}

// TestRewriteOfferDrops: the formats the server does not serve go, with
// their attribute lines; the rest of the offer stays as it was.
func TestRewriteOfferDrops(t *testing.T) {
	const head = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
	for name, tc := range map[string]struct{ offer, want string }{
		"chrome": {chromeOffer, strings.NewReplacer(
			"m=audio 9 UDP/TLS/RTP/SAVPF 111 63\r\n", "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n",
			"a=rtpmap:63 red/48000/2\r\n", "",
			"m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103 106 107 45\r\n", "m=video 9 UDP/TLS/RTP/SAVPF 96 102 106\r\n",
			"a=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\n", "",
			"a=rtpmap:103 rtx/90000\r\na=fmtp:103 apt=102\r\n", "",
			"a=rtpmap:107 rtx/90000\r\na=fmtp:107 apt=106\r\n", "",
			"a=rtpmap:45 AV1/90000\r\n", "",
		).Replace(chromeOffer)},
		"feedback lines, and the wildcard's kept": {
			head + "m=video 9 UDP/TLS/RTP/SAVPF 98 96\r\na=rtpmap:98 VP9/90000\r\na=rtcp-fb:98 nack\r\na=rtcp-fb:* transport-cc\r\na=fmtp:98 profile-id=0\r\na=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 nack\r\n",
			head + "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtcp-fb:* transport-cc\r\na=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 nack\r\n",
		},
		"nothing served: kept whole": {
			head + "m=video 9 UDP/TLS/RTP/SAVPF 98 99\r\na=rtpmap:98 VP9/90000\r\na=rtpmap:99 rtx/90000\r\na=fmtp:99 apt=98\r\n", "",
		},
		"everything served: unchanged": {head + "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n", ""},
		"a static format without rtpmap goes": {
			head + "m=audio 9 RTP/AVP 0 111\r\na=rtpmap:111 opus/48000/2\r\n",
			head + "m=audio 9 RTP/AVP 111\r\na=rtpmap:111 opus/48000/2\r\n",
		},
		"an audio codec in a video section goes": {
			head + "m=video 9 UDP/TLS/RTP/SAVPF 111 96\r\na=rtpmap:111 opus/48000/2\r\na=rtpmap:96 VP8/90000\r\n",
			head + "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n",
		},
		"LF line ends, the other sections left alone": {
			head + "m=video 9 UDP/TLS/RTP/SAVPF 97 96\na=rtpmap:97 rtx/90000\na=rtpmap:96 H264/90000\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\na=sctp-port:5000\n",
			head + "m=video 9 UDP/TLS/RTP/SAVPF 96\na=rtpmap:96 H264/90000\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\na=sctp-port:5000\n",
		},
	} {
		t.Run(name, func(t *testing.T) {
			want := tc.want
			if want == "" {
				want = tc.offer
			}
			info, err := parseSDP(tc.offer)
			if err != nil {
				t.Fatal(err)
			}
			if got := rewriteOffer(tc.offer, info, false); got != want {
				t.Fatalf("trimmed offer:\n%q\nwant\n%q", got, want)
			}
		})
	}
}

// TestServedCodecs: servedCodec names every codec the server registers,
// so that rewriteOffer never drops one of them.
func TestServedCodecs(t *testing.T) {
	for _, c := range append(videoCodecs(), opusCodec()) {
		kind, name, _ := strings.Cut(strings.ToLower(c.MimeType), "/")
		if !servedCodec(kind, name) {
			t.Errorf("%s is registered but not served", c.MimeType)
		}
	}
}

func FuzzRewriteOffer(f *testing.F) {
	f.Add(chromeOffer)
	f.Add("v=0\r\nm=video 9 RTP/AVP 96 97\r\na=rtpmap:96 VP8/90000\r\na=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\n")
	f.Add("v=0\nm=audio 9 UDP 0 111\na=rtpmap:111 opus/48000\na=rtcp-fb:0 nack\na=rtpmap:\n")
	f.Add("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 0 X\r\n")
	f.Add("v=0\nm=video 9 UDP 1 2 3\na=rtpmap:2 H264/90000\na=fmtp:2 packetization-mode=1\n")
	f.Fuzz(func(t *testing.T, raw string) {
		info, err := parseSDP(raw)
		if err != nil {
			return
		}
		// A viewer's offer is trimmed: it parses, keeps every section and
		// exactly the served formats of those that have any.
		out := rewriteOffer(raw, info, false)
		if len(out) > len(raw) {
			t.Fatalf("trimming grew the offer from %d to %d bytes", len(raw), len(out))
		}
		got, err := parseSDP(out)
		if err != nil {
			t.Fatalf("the trimmed offer does not parse: %v\n%q", err, out)
		}
		if len(got.media) != len(info.media) {
			t.Fatalf("%d sections after trimming, %d before", len(got.media), len(info.media))
		}
		for i, m := range info.media {
			var served []string
			for _, c := range m.codecs {
				if servedCodec(m.kind, c.name) {
					served = append(served, c.pt+" "+c.name+" "+c.fmtp)
				}
			}
			var kept []string
			for _, c := range got.media[i].codecs {
				kept = append(kept, c.pt+" "+c.name+" "+c.fmtp)
			}
			if len(served) > 0 && (m.kind == "audio" || m.kind == "video") && strings.Join(kept, "|") != strings.Join(served, "|") {
				t.Fatalf("section %d: kept %q, want the served formats %q", i, kept, served)
			}
		}
		// A publisher's is also reordered: the same formats in each section.
		pub := rewriteOffer(raw, info, true)
		reordered, err := parseSDP(pub)
		if err != nil {
			t.Fatalf("the reordered offer does not parse: %v\n%q", err, pub)
		}
		if len(reordered.media) != len(got.media) {
			t.Fatalf("%d sections reordered, %d trimmed", len(reordered.media), len(got.media))
		}
		for i := range got.media {
			a, b := formatsOf(got.media[i]), formatsOf(reordered.media[i])
			slices.Sort(a)
			slices.Sort(b)
			if !slices.Equal(a, b) {
				t.Fatalf("section %d: formats %q reordered, %q trimmed", i, b, a)
			}
		}
	})
}

func formatsOf(m mediaInfo) []string {
	var pts []string
	for _, c := range m.codecs {
		pts = append(pts, c.pt)
	}
	return pts
}
