package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/colony-live/colony/internal/syncbuf"
)

// auIndex maps the pictures of a source to their index.
func auIndex(aus [][][]byte) map[[32]byte]int {
	m := map[[32]byte]int{}
	for i, au := range aus {
		m[sha256.Sum256(annexB(nil, vcl(au)))] = i
	}
	return m
}

// collector keeps the access units a player delivers.
type collector struct {
	mu  sync.Mutex
	aus []AccessUnit
}

func (c *collector) add(au AccessUnit) {
	c.mu.Lock()
	c.aus = append(c.aus, au)
	c.mu.Unlock()
}

func (c *collector) get() []AccessUnit {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]AccessUnit(nil), c.aus...)
}

// checkSequence checks that received access units are the source's
// pictures, in order (looping), starting at an IDR.
func checkSequence(t *testing.T, got []AccessUnit, index map[[32]byte]int, n int) {
	t.Helper()
	prev := -1
	for i, au := range got {
		j, ok := index[sha256.Sum256(annexB(nil, vcl(au.NALUs)))]
		if !ok {
			t.Fatalf("access unit %d is none of the source's pictures", i)
		}
		if i == 0 && !au.Key {
			t.Fatal("the first access unit is not an IDR")
		}
		if prev >= 0 && j != (prev+1)%n {
			t.Fatalf("access unit %d is picture %d after picture %d", i, j, prev)
		}
		if i > 0 && au.PTS <= got[i-1].PTS {
			t.Fatalf("access unit %d: PTS %v after %v", i, au.PTS, got[i-1].PTS)
		}
		prev = j
	}
}

func TestPublishAndPlay(t *testing.T) {
	h264Path, oggPath := h264File(t, 2, true), opusFile(t, 2)
	source := readAUs(t, open(t, h264Path))
	index := auIndex(source)
	r, hs := newServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	pub, err := Publish(ctx, hs.URL+"/LiveApp/whip/cam1", Source{H264: open(t, h264Path), Opus: open(t, oggPath), Loop: true}, Options{Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	if !strings.HasPrefix(pub.Location(), hs.URL+"/LiveApp/whip/cam1/") {
		t.Fatalf("Location %q", pub.Location())
	}
	for !r.live() {
		select {
		case <-ctx.Done():
			t.Fatal("the stream did not start")
		case <-time.After(20 * time.Millisecond):
		}
	}

	var whep collector
	var rec syncbuf.Buffer // written by the player's track goroutine while the test reads it
	pl, err := Play(ctx, hs.URL+"/LiveApp/whep/cam1", PlayOptions{OnAccessUnit: whep.add, Record: &rec})
	if err != nil {
		t.Fatal(err)
	}
	defer pl.Close()
	var ws collector
	wpl, err := PlayWebSocket(ctx, wsURLOf(hs), "cam1", PlayOptions{OnAccessUnit: ws.add})
	if err != nil {
		t.Fatal(err)
	}
	defer wpl.Close()
	for _, p := range []*Player{pl, wpl} {
		if err := p.WaitFrames(ctx, 75); err != nil { // past the source's first loop
			t.Fatal(err)
		}
	}
	checkSequence(t, whep.get(), index, len(source))
	checkSequence(t, ws.get(), index, len(source))
	st := pl.Stats()
	if st.AudioPackets == 0 || st.LostPackets != 0 || !st.FirstUnitKey || st.VideoCodec != "video/H264" || st.AudioCodec != "audio/opus" {
		t.Fatalf("WHEP stats %+v", st)
	}
	if st.FirstFrameAt.Before(st.ConnectedAt) && st.FirstFrameAt.Before(st.FirstPacketAt) {
		t.Fatalf("first frame before its first packet: %+v", st)
	}
	if !bytes.HasPrefix(rec.Bytes(), []byte{0, 0, 0, 1, 0x67}) {
		t.Fatalf("the recording starts with %x, want an SPS", rec.Bytes()[:8])
	}
	if ps := pub.Stats(); ps.VideoFrames < 75 || ps.AudioPackets < 100 || ps.Loops < 1 {
		t.Fatalf("publisher stats %+v", ps)
	}

	// Closing the viewer leaves the publication; closing the publisher
	// ends the stream, and the server ends the other viewer.
	if err := pl.Close(); err != nil {
		t.Fatalf("viewer Close: %v", err)
	}
	if err := pub.Close(); err != nil {
		t.Fatalf("publisher Close: %v", err)
	}
	select {
	case <-wpl.Done():
	case <-ctx.Done():
		t.Fatal("the WebSocket viewer outlived the stream")
	}
	if err := wpl.Err(); !errors.Is(err, ErrPeerGone) {
		t.Fatalf("WebSocket viewer ended with %v, want ErrPeerGone", err)
	}
}

func TestPublishEndsWithTheSource(t *testing.T) {
	_, hs := newServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	pub, err := Publish(ctx, hs.URL+"/LiveApp/whip/cam1", Source{H264: open(t, h264File(t, 1, false))}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-pub.Done():
	case <-ctx.Done():
		t.Fatal("the publication did not end with its source")
	}
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Fatalf("1 s of video sent in %v: not paced", d)
	}
	if err := pub.Err(); err != nil {
		t.Fatalf("Err = %v", err)
	}
	if st := pub.Stats(); st.VideoFrames != 30 || st.Keyframes != 1 {
		t.Fatalf("stats %+v", st)
	}
	if err := pub.Close(); err != nil {
		t.Fatalf("Close after the end: %v", err)
	}
}

// onlyReader hides a file's Seek.
type onlyReader struct{ io.Reader }

func TestRefusals(t *testing.T) {
	_, hs := newServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var he *HTTPError
	if _, err := Play(ctx, hs.URL+"/LiveApp/whep/nothing", PlayOptions{}); !errors.As(err, &he) || he.StatusCode != http.StatusNotFound {
		t.Errorf("WHEP of no stream: %v, want HTTP 404", err)
	}
	var se *SignalError
	if _, err := PlayWebSocket(ctx, wsURLOf(hs), "nothing", PlayOptions{}); !errors.As(err, &se) || se.Definition != "no_stream_exist" {
		t.Errorf("WebSocket play of no stream: %v, want no_stream_exist", err)
	}
	if _, err := Publish(ctx, hs.URL+"/LiveApp/whip/x", Source{}, Options{}); !errors.Is(err, ErrNoMedia) {
		t.Errorf("Publish of nothing: %v", err)
	}
	if _, err := Publish(ctx, hs.URL+"/LiveApp/whip/x", Source{H264: onlyReader{strings.NewReader("")}, Loop: true}, Options{}); !errors.Is(err, ErrNotSeekable) {
		t.Errorf("looping a reader: %v", err)
	}
	if _, err := Publish(ctx, hs.URL+"/Bad..App/whip/x", Source{H264: strings.NewReader("")}, Options{}); !errors.As(err, &he) || he.StatusCode != http.StatusNotFound {
		t.Errorf("WHIP to a bad app: %v, want 404", err)
	}
}
