package hls

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2"
	"github.com/bluenviron/gohlslib/v2/pkg/codecs"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
)

var prefixedURI = regexp.MustCompile(`^[0-9a-f]{12}_[a-z0-9]+_stream\.m3u8`)

// mainPlaylist fetches /LiveApp/streams/{id}.m3u8, which must succeed, and
// returns it with its first media playlist path.
func (ts *testServer) mainPlaylist(t testing.TB, id string) (string, string) {
	t.Helper()
	code, body, hdr := ts.get(t, "/LiveApp/streams/"+id+".m3u8")
	if code != http.StatusOK {
		t.Fatalf("main playlist: status %d: %s", code, body)
	}
	if ct := hdr.Get("Content-Type"); ct != "application/vnd.apple.mpegurl" {
		t.Errorf("main playlist Content-Type %q", ct)
	}
	u := uris(body)
	if len(u) == 0 || !prefixedURI.MatchString(u[0]) {
		t.Fatalf("main playlist URIs %q not prefixed:\n%s", u, body)
	}
	return body, "/LiveApp/streams/" + u[0]
}

type probeResult struct {
	Streams []struct {
		CodecType string `json:"codec_type"`
		CodecName string `json:"codec_name"`
		Width     int    `json:"width"`
		Height    int    `json:"height"`
	} `json:"streams"`
}

func TestFFprobeReadsEveryVariant(t *testing.T) {
	for _, variant := range []string{VariantLowLatency, VariantFMP4, VariantMPEGTS} {
		t.Run(variant, func(t *testing.T) {
			t.Parallel()
			ts := newTestServer(t, Config{Variant: variant})
			ts.publish(t, mustKey(t, "LiveApp", "probe1"), 4*time.Second)

			ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, "ffprobe", "-v", "error",
				"-show_entries", "stream=codec_type,codec_name,width,height", "-of", "json",
				ts.url("/LiveApp/streams/probe1.m3u8")).Output()
			if err != nil {
				t.Fatalf("ffprobe: %v %s", err, out)
			}
			var res probeResult
			if err := json.Unmarshal(out, &res); err != nil {
				t.Fatalf("ffprobe output %s: %v", out, err)
			}
			var video, audio bool
			for _, s := range res.Streams {
				switch {
				case s.CodecType == "video" && s.CodecName == "h264" && s.Width == 320 && s.Height == 240:
					video = true
				case s.CodecType == "audio" && s.CodecName == "aac":
					audio = true
				}
			}
			if !video || !audio {
				t.Fatalf("ffprobe found %s, want h264 320x240 and aac", out)
			}
		})
	}
}

// TestGohlslibClientPlays plays the stream with gohlslib's own client and
// checks that it gets H.264 and AAC with increasing timestamps.
func TestGohlslibClientPlays(t *testing.T) {
	for _, tc := range []struct {
		variant string
		// burst: media written at once before real time. The LL client
		// follows preload hints, and skips parts that a burst produces
		// faster than it fetches them.
		burst time.Duration
		// maxStep: the largest timestamp step accepted. gohlslib's LL
		// client fetches a preload hint, then a non-blocking playlist,
		// and jumps to that playlist's hint: when the test machine delays
		// it by a part, it skips that part (TestLowLatencyPlaylists checks
		// that the parts the server lists are continuous).
		maxStep time.Duration
	}{
		{VariantLowLatency, 1500 * time.Millisecond, 750 * time.Millisecond},
		{VariantMPEGTS, 4 * time.Second, 100 * time.Millisecond},
	} {
		t.Run(tc.variant, func(t *testing.T) {
			t.Parallel()
			ts := newTestServer(t, Config{Variant: tc.variant})
			ts.publish(t, mustKey(t, "LiveApp", "client1"), tc.burst)
			ts.mainPlaylist(t, "client1") // ready
			time.Sleep(200 * time.Millisecond)

			var mu sync.Mutex
			var videoDTS, audioPTS []int64
			var decodeErrs []string
			done := make(chan struct{})
			var doneOnce sync.Once
			check := func() {
				if len(videoDTS) >= 45 && len(audioPTS) >= 70 {
					doneOnce.Do(func() { close(done) })
				}
			}
			c := &gohlslib.Client{
				URI:                       ts.url("/LiveApp/streams/client1.m3u8"),
				HTTPClient:                ts.http.Client(),
				OnDownloadPrimaryPlaylist: func(string) {},
				OnDownloadStreamPlaylist:  func(string) {},
				OnDownloadSegment:         func(string) {},
				OnDownloadPart:            func(string) {},
				OnDecodeError: func(err error) {
					mu.Lock()
					decodeErrs = append(decodeErrs, err.Error())
					mu.Unlock()
				},
			}
			c.OnTracks = func(tracks []*gohlslib.Track) error {
				for _, tr := range tracks {
					switch tr.Codec.(type) {
					case *codecs.H264:
						c.OnDataH26x(tr, func(_, dts int64, au [][]byte) {
							mu.Lock()
							defer mu.Unlock()
							if len(au) > 0 {
								videoDTS = append(videoDTS, dts)
							}
							check()
						})
					case *codecs.MPEG4Audio:
						c.OnDataMPEG4Audio(tr, func(pts int64, aus [][]byte) {
							mu.Lock()
							defer mu.Unlock()
							for i := range aus {
								audioPTS = append(audioPTS, pts+int64(i)*1024)
							}
							check()
						})
					}
				}
				return nil
			}
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			select {
			case <-done:
			case <-time.After(20 * time.Second):
			}
			c.Close()

			mu.Lock()
			defer mu.Unlock()
			if len(videoDTS) < 45 || len(audioPTS) < 70 {
				t.Fatalf("got %d video and %d audio units (decode errors %q)", len(videoDTS), len(audioPTS), decodeErrs)
			}
			assertIncreasing(t, "video DTS", videoDTS, ticks(tc.maxStep, 90000))
			assertIncreasing(t, "audio PTS", audioPTS, ticks(tc.maxStep, 48000))
		})
	}
}

// assertIncreasing checks that ts strictly increases without a gap of
// more than maxStep.
func assertIncreasing(t testing.TB, what string, ts []int64, maxStep int64) {
	t.Helper()
	for i := 1; i < len(ts); i++ {
		if d := ts[i] - ts[i-1]; d <= 0 || d > maxStep {
			t.Fatalf("%s not continuous at %d: %d then %d", what, i, ts[i-1], ts[i])
		}
	}
}

var (
	partInfRe      = regexp.MustCompile(`#EXT-X-PART-INF:PART-TARGET=([0-9.]+)`)
	partHoldBackRe = regexp.MustCompile(`PART-HOLD-BACK=([0-9.]+)`)
	mediaSeqRe     = regexp.MustCompile(`#EXT-X-MEDIA-SEQUENCE:([0-9]+)`)
	preloadRe      = regexp.MustCompile(`#EXT-X-PRELOAD-HINT:TYPE=PART,URI="([^"]+)"`)
	mapRe          = regexp.MustCompile(`#EXT-X-MAP:URI="([^"]+)"`)
)

func TestLowLatencyPlaylists(t *testing.T) {
	for _, separate := range []bool{false, true} {
		t.Run(fmt.Sprintf("separate_audio=%v", separate), func(t *testing.T) {
			t.Parallel()
			testLowLatencyPlaylists(t, separate)
		})
	}
}

func testLowLatencyPlaylists(t *testing.T, separateAudio bool) {
	ts := newTestServer(t, Config{SeparateAudio: separateAudio})
	key := mustKey(t, "LiveApp", "ll1")
	ts.publish(t, key, 3*time.Second)

	main, mediaPath := ts.mainPlaylist(t, "ll1")
	if !strings.Contains(main, `mp4a.40.2`) {
		t.Errorf("main playlist does not announce the AAC audio:\n%s", main)
	}
	hasRendition := strings.Contains(main, `#EXT-X-MEDIA:TYPE=AUDIO`)
	switch {
	case separateAudio && (!hasRendition || !regexp.MustCompile(`URI="[0-9a-f]{12}_audio2_stream\.m3u8"`).MatchString(main)):
		t.Errorf("audio rendition missing or not rewritten:\n%s", main)
	case !separateAudio && (hasRendition || len(uris(main)) != 1):
		t.Errorf("audio not muxed into the one media playlist:\n%s", main)
	}
	code, media, hdr := ts.get(t, mediaPath)
	if code != http.StatusOK {
		t.Fatalf("media playlist: %d %s", code, media)
	}
	if hdr.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("CORS header %q", hdr.Get("Access-Control-Allow-Origin"))
	}
	for _, tag := range []string{"#EXT-X-PART:", "#EXT-X-PART-INF:", "CAN-BLOCK-RELOAD=YES", "#EXT-X-PRELOAD-HINT:"} {
		if !strings.Contains(media, tag) {
			t.Errorf("media playlist lacks %s:\n%s", tag, media)
		}
	}
	target := floatOf(t, partInfRe, media)
	holdBack := floatOf(t, partHoldBackRe, media)
	if holdBack < 3*target-1e-6 {
		t.Errorf("PART-HOLD-BACK %v < 3 x PART-TARGET %v", holdBack, target)
	}

	// Init file, segments and parts resolve next to the playlists.
	for _, re := range []*regexp.Regexp{mapRe, regexp.MustCompile(`#EXT-X-PART:[^\n]*URI="([^"]+)"`)} {
		m := re.FindStringSubmatch(media)
		if m == nil {
			t.Fatalf("no %v in\n%s", re, media)
		}
		if code, body, _ := ts.get(t, "/LiveApp/streams/"+m[1]); code != http.StatusOK || len(body) == 0 {
			t.Errorf("%s: status %d, %d bytes", m[1], code, len(body))
		}
	}
	segs := uris(media)
	last := segs[len(segs)-1]
	if code, body, hdr := ts.get(t, "/LiveApp/streams/"+last); code != http.StatusOK || len(body) == 0 ||
		!strings.Contains(hdr.Get("Cache-Control"), "max-age") {
		t.Errorf("segment %s: status %d, %d bytes, Cache-Control %q", last, code, len(body), hdr.Get("Cache-Control"))
	}

	// The parts listed follow each other without a gap, for each track,
	// and (muxed) each part carries both tracks.
	if separateAudio {
		assertPartsContinuous(t, ts, media, 1)
		_, audioPL, _ := ts.get(t, "/LiveApp/streams/"+regexp.MustCompile(`URI="([^"]+)"`).FindStringSubmatch(main)[1])
		assertPartsContinuous(t, ts, audioPL, 1)
	} else {
		assertPartsContinuous(t, ts, media, 2)
	}

	// A blocking reload for the next part answers once it exists.
	msn := int(floatOf(t, mediaSeqRe, media)) + len(segs)
	tail := media[strings.LastIndex(media, last):]
	part := strings.Count(tail, "#EXT-X-PART:")
	start := time.Now()
	q := "?_HLS_msn=" + strconv.Itoa(msn) + "&_HLS_part=" + strconv.Itoa(part)
	code, next, _ := ts.get(t, mediaPath+q)
	if code != http.StatusOK || time.Since(start) > 3*time.Second {
		t.Fatalf("blocking reload %s: status %d after %v", q, code, time.Since(start))
	}
	if floatOf(t, partHoldBackRe, next) < 3*target-1e-6 {
		t.Errorf("blocking reload lost the PART-HOLD-BACK fix")
	}
	// The preload hint answers too (once its part is complete).
	hint := preloadRe.FindStringSubmatch(next)
	if hint == nil {
		t.Fatalf("no preload hint in\n%s", next)
	}
	if code, body, _ := ts.get(t, "/LiveApp/streams/"+hint[1]); code != http.StatusOK || len(body) == 0 {
		t.Errorf("preload hint %s: status %d, %d bytes", hint[1], code, len(body))
	}

	// Unknown files of a live stream are 404, not gohlslib's empty 200.
	prefix := strings.TrimPrefix(mediaPath, "/LiveApp/streams/")[:prefixLen]
	for _, name := range []string{prefix + "_video1_seg999999.mp4", prefix + "_nope_stream.m3u8",
		prefix + "_video1_part999999.mp4.x", "gap.mp4", prefix + "_index.m3u8"} {
		if code, body, _ := ts.get(t, "/LiveApp/streams/"+name); code != http.StatusNotFound {
			t.Errorf("%s: status %d %q, want 404", name, code, body)
		}
	}
	// The prefix routes only within its app.
	if code, _, _ := ts.get(t, "/OtherApp/streams/"+strings.TrimPrefix(mediaPath, "/LiveApp/streams/")); code != http.StatusNotFound {
		t.Errorf("prefix served under another app: %d", code)
	}

	// All of that came from one client; a second one counts separately.
	if v := ts.srv.Viewers(key); v != 1 {
		t.Errorf("Viewers = %d, want 1", v)
	}
	ts.do(t, http.MethodGet, mediaPath, http.Header{"User-Agent": {"other-player"}})
	if v := ts.srv.Viewers(key); v != 2 {
		t.Errorf("Viewers = %d, want 2", v)
	}
	if st := ts.srv.Stats(); st.Requests < 10 || st.BytesOut < 10_000 {
		t.Errorf("Stats = %+v", st)
	}
	if n := ts.srv.Streams(); n != 1 {
		t.Errorf("Streams = %d", n)
	}
}

// assertPartsContinuous fetches every part a media playlist lists and
// checks that each holds tracks tracks and that each track's timeline has
// no gap or overlap between them.
func assertPartsContinuous(t testing.TB, ts *testServer, pl string, tracks int) {
	t.Helper()
	partRe := regexp.MustCompile(`#EXT-X-PART:[^\n]*URI="([^"]+)"`)
	next := map[int]uint64{}
	found := partRe.FindAllStringSubmatch(pl, -1)
	if len(found) < 4 {
		t.Fatalf("only %d parts in\n%s", len(found), pl)
	}
	for _, m := range found {
		code, body, _ := ts.get(t, "/LiveApp/streams/"+m[1])
		if code != http.StatusOK {
			t.Fatalf("part %s: %d", m[1], code)
		}
		var parts fmp4.Parts
		if err := parts.Unmarshal([]byte(body)); err != nil {
			t.Fatalf("part %s: %v", m[1], err)
		}
		for _, p := range parts {
			if len(p.Tracks) != tracks {
				t.Fatalf("part %s holds %d tracks, want %d", m[1], len(p.Tracks), tracks)
			}
			for _, tr := range p.Tracks {
				if want, ok := next[tr.ID]; ok && tr.BaseTime != want {
					t.Fatalf("part %s track %d starts at %d, previous part ended at %d", m[1], tr.ID, tr.BaseTime, want)
				}
				end := tr.BaseTime
				for _, s := range tr.Samples {
					end += uint64(s.Duration)
				}
				next[tr.ID] = end
			}
		}
	}
}

func floatOf(t testing.TB, re *regexp.Regexp, s string) float64 {
	t.Helper()
	m := re.FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("no %v in\n%s", re, s)
	}
	f, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return f
}
