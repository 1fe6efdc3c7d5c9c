package main

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	tscodecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"
)

// Segments match by stamp, whatever their order; a segment counts by its
// reference listing time, or by its played one when the reference never
// listed it; the window is [start, end).
func TestMatchSegments(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	win := &window{}
	win.begin(at(1000))
	win.close(at(3000))
	tests := []struct {
		name                         string
		ref, played                  map[int64]time.Time
		delays                       []float64
		matched, refOnly, playedOnly int
	}{
		{name: "empty"},
		{
			name:    "all matched",
			ref:     map[int64]time.Time{1: at(1500), 2: at(2500)},
			played:  map[int64]time.Time{1: at(1503), 2: at(2540)},
			delays:  []float64{3, 40},
			matched: 2,
		},
		{
			name:    "played earlier",
			ref:     map[int64]time.Time{1: at(2000)},
			played:  map[int64]time.Time{1: at(1990)},
			delays:  []float64{-10},
			matched: 1,
		},
		{
			name:   "one side only",
			ref:    map[int64]time.Time{1: at(1500), 3: at(2000)},
			played: map[int64]time.Time{1: at(1520), 4: at(2200)},
			delays: []float64{20}, matched: 1, refOnly: 1, playedOnly: 1,
		},
		{
			// 1: the reference listed it before the window (not counted, though
			// the played URL listed it inside); 2: at the window's end
			// (excluded); 3: inside, the played listing after the end still
			// counts; 5, 6: played only, outside.
			name:    "outside the window",
			ref:     map[int64]time.Time{1: at(500), 2: at(3000), 3: at(2990)},
			played:  map[int64]time.Time{1: at(1200), 2: at(3040), 3: at(3030), 5: at(3500), 6: at(900)},
			delays:  []float64{40},
			matched: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := matchSegments(tt.ref, tt.played, win)
			got := slices.Sorted(slices.Values(m.delays))
			if len(got) != len(tt.delays) {
				t.Fatalf("delays %v, want %v", got, tt.delays)
			}
			for i := range got {
				if math.Abs(got[i]-tt.delays[i]) > 1e-9 {
					t.Fatalf("delays %v, want %v", got, tt.delays)
				}
			}
			if m.matched != tt.matched || m.refOnly != tt.refOnly || m.playedOnly != tt.playedOnly {
				t.Fatalf("matched %d, reference only %d, played only %d; want %d, %d, %d",
					m.matched, m.refOnly, m.playedOnly, tt.matched, tt.refOnly, tt.playedOnly)
			}
		})
	}
	if m := matchSegments(map[int64]time.Time{1: at(1500)}, nil, &window{}); m.refOnly != 0 {
		t.Errorf("counted before the window began: %+v", m)
	}
}

func TestWithDirectives(t *testing.T) {
	tests := []struct{ u, dir, want string }{
		{"http://h/s/a.m3u8", "_HLS_msn=5", "http://h/s/a.m3u8?_HLS_msn=5"},
		{"http://h/s/a.m3u8", "", "http://h/s/a.m3u8"},
		{"http://h/a.m3u8?token=x%2Fy&b=1", "_HLS_msn=5&_HLS_part=2", "http://h/a.m3u8?token=x%2Fy&b=1&_HLS_msn=5&_HLS_part=2"},
		{"http://h/a.m3u8?_HLS_msn=3&token=t&_HLS_part=1&_HLS_skip=YES", "_HLS_msn=4&_HLS_part=0", "http://h/a.m3u8?token=t&_HLS_msn=4&_HLS_part=0"},
		{"http://h/a.m3u8?token=t&_HLS_msn=3", "", "http://h/a.m3u8?token=t"},
	}
	for _, tt := range tests {
		u, err := url.Parse(tt.u)
		if err != nil {
			t.Fatal(err)
		}
		if got := withDirectives(u, tt.dir); got != tt.want {
			t.Errorf("withDirectives(%s, %q) = %s, want %s", tt.u, tt.dir, got, tt.want)
		}
	}
}

func TestBlockingDirectives(t *testing.T) {
	if got := blockingDirectives(mustMedia(t, testLLPlaylist)); got != "_HLS_msn=7&_HLS_part=2" {
		t.Errorf("LL-HLS playlist: %q, want the part after the last listed", got)
	}
	noParts := "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES\n" +
		"#EXT-X-MEDIA-SEQUENCE:10\n#EXTINF:2,\na.ts\n#EXTINF:2,\nb.ts\n"
	if got := blockingDirectives(mustMedia(t, noParts)); got != "_HLS_msn=12" {
		t.Errorf("blocking without parts: %q, want the next segment", got)
	}
	plain := "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:10\n#EXTINF:2,\na.ts\n"
	if got := blockingDirectives(mustMedia(t, plain)); got != "" {
		t.Errorf("no blocking reloads: %q, want none (polling)", got)
	}
}

func TestSegmentLine(t *testing.T) {
	r := result{Label: "colony-edge", Mode: modeHLS, Viewers: 200, SegmentDelay: &dist{N: 28, P50: 3.1, P95: 4, Max: 6.2},
		SegmentsMatched: 28, SegmentsRefOnly: 1}
	want := "colony-edge hls:200: segments listed at the played URL 3.1 ms p50 / 4.0 p95 / 6.2 max after the reference " +
		"(28 matched, 1 only at the reference, 0 only at the played URL)"
	if got := segmentLine(r); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	var buf bytes.Buffer
	if err := writeTable(&buf, []result{r, {Label: "x", Mode: modeWHEP, Viewers: 1}}); err != nil {
		t.Fatal(err)
	}
	if strings.Count(buf.String(), "segments listed") != 1 || !strings.Contains(buf.String(), want+"\n") {
		t.Errorf("table:\n%s", buf.String())
	}
	r.SegmentDelay, r.SegmentsMatched, r.SegmentProbeErr = &dist{}, 0, "reference: HTTP 404"
	want = "colony-edge hls:200: segments listed at the played URL: none matched the reference " +
		"(0 matched, 1 only at the reference, 0 only at the played URL); reference: HTTP 404"
	if got := segmentLine(r); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if got := segmentLine(result{Mode: modeHLS}); got != "" {
		t.Errorf("a line without a probe: %q", got)
	}
}

// segStream serves a synthetic live HLS stream for the probe's tests.
// Segment i (i >= 0) lasts dur, starts with a keyframe stamped
// start+i*dur and is listed delay after start+(i+1)*dur, under media
// sequence number i+msnOffset. With parts, each segment has that many
// parts, part j listed delay after start+i*dur+(j+1)*dur/parts (the last
// with its segment), and blocking reloads hold as Colony's and gohlslib's
// do: _HLS_msn=M alone until part 0 of M, a part index past the last for
// part 0 of the next segment. With block and no parts, _HLS_msn=M holds
// until segment M is listed. Without block the directives are ignored.
type segStream struct {
	start     time.Time
	dur       time.Duration
	parts     int
	block     bool
	ts        bool // MPEG-TS segments; else fMP4
	delay     time.Duration
	msnOffset int
	gapEvery  int    // list every gapEvery-th segment as a gap
	token     string // playlist requests must carry token=token (decoded)
	init      []byte

	url                string
	requests, directed atomic.Int64 // playlist requests; those with _HLS_msn
}

func newSegStream(t *testing.T, s *segStream) *segStream {
	t.Helper()
	c := testClip(t)
	in := fmp4.Init{Tracks: []*fmp4.InitTrack{{ID: 1, TimeScale: 90000, Codec: &codecs.H264{SPS: c.sps, PPS: c.pps}}}}
	var ib seekablebuffer.Buffer
	if err := in.Marshal(&ib); err != nil {
		t.Fatal(err)
	}
	s.init = ib.Bytes()
	hs := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(func() {
		hs.CloseClientConnections()
		hs.Close()
	})
	s.url = hs.URL
	return s
}

// listed returns how many segments are listed at t, and how many parts of
// the next one.
func (s *segStream) listed(t time.Time) (n, k int) {
	el := t.Sub(s.start) - s.delay
	if el < 0 {
		return 0, 0
	}
	n = int(el / s.dur)
	if s.parts > 0 {
		k = int((el - time.Duration(n)*s.dur) / (s.dur / time.Duration(s.parts)))
	}
	return n, k
}

// readyAt returns when a blocking reload for segment msn, part part
// (hasPart) is answered.
func (s *segStream) readyAt(msn, part int, hasPart bool) time.Time {
	i := msn - s.msnOffset
	if s.parts == 0 {
		return s.start.Add(time.Duration(i+1)*s.dur + s.delay)
	}
	if !hasPart {
		part = 0
	}
	if part >= s.parts {
		i, part = i+1, 0
	}
	return s.start.Add(time.Duration(i)*s.dur + time.Duration(part+1)*s.dur/time.Duration(s.parts) + s.delay)
}

func (s *segStream) ext() string {
	if s.ts {
		return ".ts"
	}
	return ".mp4"
}

func (s *segStream) serve(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/")
	switch {
	case name == "index.m3u8":
		uri := "media.m3u8"
		if s.token != "" {
			uri += "?token=" + strings.ReplaceAll(s.token, "/", "%2F")
		}
		fmt.Fprintf(w, "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-STREAM-INF:BANDWIDTH=500000,CODECS=\"avc1.64001f\"\n%s\n", uri)
	case name == "media.m3u8":
		s.servePlaylist(w, r)
	case name == "init.mp4" && !s.ts:
		_, _ = w.Write(s.init)
	case strings.HasPrefix(name, "seg") && strings.HasSuffix(name, s.ext()):
		i, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(name, "seg"), s.ext()))
		if n, _ := s.listed(time.Now()); err != nil || i < 0 || i >= n {
			http.NotFound(w, r)
			return
		}
		b, err := s.segment(i)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_, _ = w.Write(b)
	default:
		http.NotFound(w, r)
	}
}

func (s *segStream) servePlaylist(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	q := r.URL.Query()
	if s.token != "" && q.Get("token") != s.token {
		http.Error(w, "bad token", http.StatusForbidden)
		return
	}
	if len(q["_HLS_msn"]) > 1 || len(q["_HLS_part"]) > 1 {
		http.Error(w, "repeated directive", http.StatusBadRequest)
		return
	}
	if q.Has("_HLS_msn") {
		s.directed.Add(1)
	}
	if s.block && q.Has("_HLS_msn") {
		msn, err := strconv.Atoi(q.Get("_HLS_msn"))
		part, perr := 0, error(nil)
		if q.Has("_HLS_part") {
			part, perr = strconv.Atoi(q.Get("_HLS_part"))
		}
		n, _ := s.listed(time.Now())
		if err != nil || perr != nil || msn-s.msnOffset > n+1 || msn < s.msnOffset {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		wait := time.NewTimer(time.Until(s.readyAt(msn, part, q.Has("_HLS_part"))))
		defer wait.Stop()
		select {
		case <-wait.C:
		case <-time.After(3 * time.Second): // answer the current playlist
		case <-r.Context().Done():
			return
		}
	}
	n, k := s.listed(time.Now())
	if n == 0 {
		http.NotFound(w, r)
		return
	}
	var b strings.Builder
	b.WriteString("#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:1\n")
	pd := s.dur.Seconds() / float64(max(s.parts, 1))
	if s.block {
		b.WriteString("#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES\n")
	}
	if s.parts > 0 {
		fmt.Fprintf(&b, "#EXT-X-PART-INF:PART-TARGET=%.5f\n", pd)
	}
	first := max(0, n-6)
	fmt.Fprintf(&b, "#EXT-X-MEDIA-SEQUENCE:%d\n", first+s.msnOffset)
	if !s.ts {
		b.WriteString("#EXT-X-MAP:URI=\"init.mp4\"\n")
	}
	parts := func(i, k int) {
		for j := range k {
			fmt.Fprintf(&b, "#EXT-X-PART:DURATION=%.5f,URI=\"part%d_%d%s\"", pd, i, j, s.ext())
			if j == 0 {
				b.WriteString(",INDEPENDENT=YES")
			}
			b.WriteString("\n")
		}
	}
	for i := first; i < n; i++ {
		parts(i, s.parts)
		if s.gapEvery > 0 && i%s.gapEvery == 0 {
			b.WriteString("#EXT-X-GAP\n")
		}
		fmt.Fprintf(&b, "#EXTINF:%.5f,\nseg%d%s\n", s.dur.Seconds(), i, s.ext())
	}
	parts(n, k)
	w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
	_, _ = io.WriteString(w, b.String())
}

// segment returns segment i: a keyframe stamped start+i*dur, then a frame
// stamped half a segment later.
func (s *segStream) segment(i int) ([]byte, error) {
	stamp := s.start.Add(time.Duration(i) * s.dur).UnixNano()
	key := [][]byte{stampSEI(stamp), testIDR}
	next := [][]byte{stampSEI(stamp + int64(s.dur/2)), testSlice}
	pts := 90000 + int64(i)*int64(s.dur)*90000/int64(time.Second)
	if s.ts {
		var buf bytes.Buffer
		video := &mpegts.Track{Codec: &tscodecs.H264{}}
		w := &mpegts.Writer{W: &buf, Tracks: []*mpegts.Track{video}}
		if err := w.Initialize(); err != nil {
			return nil, err
		}
		if err := w.WriteH264(video, pts, pts, key); err != nil {
			return nil, err
		}
		if err := w.WriteH264(video, pts+3000, pts+3000, next); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}
	part := fmp4.Part{SequenceNumber: uint32(i + 1), Tracks: []*fmp4.PartTrack{{ID: 1, BaseTime: uint64(pts),
		Samples: []*fmp4.Sample{
			{Duration: 3000, Payload: avcc(key...)},
			{Duration: 3000, IsNonSyncSample: true, Payload: avcc(next...)},
		}}}}
	var pb seekablebuffer.Buffer
	if err := part.Marshal(&pb); err != nil {
		return nil, err
	}
	return pb.Bytes(), nil
}

// probeFor runs the probe for a window of 2 s that begins 600 ms after
// it starts, and stops it 300 ms after the window, as a run does.
func probeFor(refURL, playedURL string) result {
	p := startSegmentProbe(context.Background(), refURL, playedURL)
	defer p.stop()
	win := &window{}
	time.Sleep(600 * time.Millisecond)
	win.begin(time.Now())
	time.Sleep(2 * time.Second)
	win.close(time.Now())
	time.Sleep(300 * time.Millisecond)
	p.stop()
	var r result
	p.fill(&r, win)
	return r
}

// Two servers of one synthetic stream, the second listing every segment a
// known delay after the first: the probe reports that delay, whatever the
// servers' media sequence numbers, containers and reload styles.
func TestSegmentProbe(t *testing.T) {
	const dur = 250 * time.Millisecond
	start := time.Now().Add(-3 * dur)
	ll := func(delay time.Duration) *segStream {
		return &segStream{start: start, dur: dur, parts: 5, block: true, delay: delay}
	}
	tests := []struct {
		name        string
		ref, played *segStream
		refPath     string // default /media.m3u8
		playedPath  string
		lo, hi      float64 // p50 bounds, ms
		check       func(t *testing.T, r result, ref, played *segStream)
	}{
		{
			// The precise path: blocking reloads for the next part. The played
			// URL numbers its segments from 1000 and carries a token; the
			// reference is reached through its multivariant playlist.
			name:       "LL-HLS parts, 40 ms",
			ref:        ll(0),
			played:     &segStream{start: start, dur: dur, parts: 5, block: true, delay: 40 * time.Millisecond, msnOffset: 1000, token: "tok/en"},
			refPath:    "/index.m3u8",
			playedPath: "/media.m3u8?token=tok%2Fen",
			lo:         30, hi: 60,
			check: func(t *testing.T, r result, ref, played *segStream) {
				if r.SegmentsRefOnly != 0 || r.SegmentsPlayedOnly != 0 {
					t.Errorf("%d only at the reference, %d only at the played URL; want none", r.SegmentsRefOnly, r.SegmentsPlayedOnly)
				}
				// A reload per part (20 a second) and a few more, not a busy loop.
				for _, s := range []*segStream{ref, played} {
					if n, d := s.requests.Load(), s.directed.Load(); n > 150 || d < 30 {
						t.Errorf("%d playlist requests, %d blocking: want about 60, nearly all blocking", n, d)
					}
				}
			},
		},
		{
			name:   "LL-HLS parts, no delay",
			ref:    ll(0),
			played: &segStream{start: start, dur: dur, parts: 5, block: true, msnOffset: 7},
			lo:     -10, hi: 10,
			check: func(t *testing.T, r result, _, _ *segStream) {
				if r.SegmentsRefOnly != 0 || r.SegmentsPlayedOnly != 0 {
					t.Errorf("%d only at the reference, %d only at the played URL; want none", r.SegmentsRefOnly, r.SegmentsPlayedOnly)
				}
			},
		},
		{
			// Blocking reloads for the next segment (no parts); every fourth
			// segment is a gap at the played URL.
			name:   "blocking without parts, gaps, 40 ms",
			ref:    &segStream{start: start, dur: dur, block: true},
			played: &segStream{start: start, dur: dur, block: true, delay: 40 * time.Millisecond, msnOffset: 3, gapEvery: 4},
			lo:     30, hi: 60,
			check: func(t *testing.T, r result, _, played *segStream) {
				if r.SegmentsRefOnly < 1 || r.SegmentsPlayedOnly != 0 {
					t.Errorf("%d only at the reference, %d only at the played URL; want some (gaps), none",
						r.SegmentsRefOnly, r.SegmentsPlayedOnly)
				}
				if n, d := played.requests.Load(), played.directed.Load(); n > 40 || d < 8 {
					t.Errorf("%d playlist requests, %d blocking: want a reload per segment", n, d)
				}
			},
		},
		{
			// The played URL does not block: polled every 10 ms.
			name:   "polling, MPEG-TS, 40 ms",
			ref:    ll(0),
			played: &segStream{start: start, dur: dur, ts: true, delay: 40 * time.Millisecond, msnOffset: 50},
			lo:     25, hi: 65,
			check: func(t *testing.T, r result, _, played *segStream) {
				if n, d := played.requests.Load(), played.directed.Load(); n < 100 || d != 0 {
					t.Errorf("%d playlist requests, %d with directives: want polling every 10 ms without", n, d)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ref, played := newSegStream(t, tt.ref), newSegStream(t, tt.played)
			refURL, playedURL := ref.url+cmp.Or(tt.refPath, "/media.m3u8"), played.url+cmp.Or(tt.playedPath, "/media.m3u8")
			r := probeFor(refURL, playedURL)
			t.Logf("%s", segmentLine(r))
			if r.SegmentProbeErr != "" || r.SegmentRef != refURL {
				t.Errorf("probe error %q, reference %s", r.SegmentProbeErr, r.SegmentRef)
			}
			if d := r.SegmentDelay; d == nil || d.N < 5 || d.N != r.SegmentsMatched || d.P50 < tt.lo || d.P50 > tt.hi {
				t.Fatalf("segment delay %+v (%d matched), want p50 in [%.0f, %.0f] ms over 5 or more", d, r.SegmentsMatched, tt.lo, tt.hi)
			}
			tt.check(t, r, ref, played)
		})
	}
	t.Run("reference missing", func(t *testing.T) {
		t.Parallel()
		played := newSegStream(t, ll(0))
		r := probeFor(played.url+"/nope.m3u8", played.url+"/media.m3u8")
		if r.SegmentDelay == nil || r.SegmentDelay.N != 0 || r.SegmentsPlayedOnly < 5 ||
			!strings.Contains(r.SegmentProbeErr, "reference: ") || !strings.Contains(r.SegmentProbeErr, "404") {
			t.Fatalf("delay %+v, played only %d, error %q: want nothing matched, the played segments counted, the reference's 404",
				r.SegmentDelay, r.SegmentsPlayedOnly, r.SegmentProbeErr)
		}
	})
}

// --hls-ref must be an http(s) URL; the run fails before it starts.
func TestHLSRefFlag(t *testing.T) {
	_, _, err := runCLI(t, "matrix", "--hls", "http://127.0.0.1:1/a.m3u8", "--hls-ref", "127.0.0.2/a.m3u8",
		"--runs", "hls:1", "--duration", "1s", "--warmup", "0s")
	if !errors.Is(err, errConfig) || !strings.Contains(err.Error(), "--hls-ref") {
		t.Fatalf("err = %v, want a configuration error naming --hls-ref", err)
	}
}
