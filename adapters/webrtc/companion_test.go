package webrtc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/colony-live/colony/adapters/webrtc/client"
	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
	"github.com/pion/rtp"
	pion "github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media/oggreader"
	"github.com/pion/webrtc/v4/pkg/media/oggwriter"
)

const (
	// opusPacketDur is the duration of the fixture's Opus packets.
	opusPacketDur = 20 * time.Millisecond
	// oggPreSkip is the pre-skip of pion's oggwriter (3840 samples).
	oggPreSkip = 80 * time.Millisecond
)

// fakeAudio is a hand-written ports.AudioCompanions.
type fakeAudio struct {
	calls   atomic.Int32
	opusFor func(ctx context.Context, key stream.Key) (*media.Stream, error)
}

func (f *fakeAudio) OpusFor(ctx context.Context, key stream.Key) (*media.Stream, error) {
	f.calls.Add(1)
	return f.opusFor(ctx, key)
}

// loadOpusPackets encodes seconds of a tone with libopus and returns its
// packets (20 ms each, one a page).
func loadOpusPackets(t *testing.T, seconds string) [][]byte {
	t.Helper()
	pkts := readOggPackets(t, opusFixture(t, seconds))
	if len(pkts) < 100 {
		t.Fatalf("%d Opus packets in the fixture", len(pkts))
	}
	return pkts
}

// readOggPackets returns the pages of an Ogg Opus file written one packet
// a page, the headers left out.
func readOggPackets(t *testing.T, path string) [][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, _, err := oggreader.NewWith(f)
	if err != nil {
		t.Fatal(err)
	}
	var pkts [][]byte
	for {
		page, _, err := r.ParseNextPage()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(page, []byte("OpusTags")) {
			pkts = append(pkts, page)
		}
	}
	return pkts
}

// writeOgg writes Opus packets to an Ogg file (pion's oggwriter, 48 kHz,
// channels) and returns its path.
func writeOgg(t *testing.T, pkts []*rtp.Packet, channels uint16) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "opus.ogg")
	w, err := oggwriter.New(path, 48000, channels)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pkts {
		if err := w.WriteRTP(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// decodeOpus decodes the Opus packets received, written to an Ogg file,
// with ffmpeg; any decoder message fails the test. It returns the audio
// duration decoded.
func decodeOpus(t *testing.T, pkts []*rtp.Packet) time.Duration {
	t.Helper()
	path := writeOgg(t, pkts, 2)
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("ffmpeg", "-v", "error", "-i", path, "-f", "framemd5", "-")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil || stderr.Len() > 0 {
		t.Fatalf("ffmpeg could not decode the Opus received: %v\n%s", err, stderr.String())
	}
	var samples int
	for _, line := range strings.Split(stdout.String(), "\n") {
		var stream, dts, pts, dur, size int
		if _, err := fmt.Sscanf(line, "%d, %d, %d, %d, %d", &stream, &dts, &pts, &dur, &size); err == nil {
			samples += dur
		}
	}
	return time.Duration(samples) * time.Second / 48000
}

// TestOpusCompanion: a stream with H.264 and AAC plays with its Opus
// companion (WHEP and WebSocket): the viewer gets the companion's packets
// from the first picture on, stamped on the video's timeline, and they
// decode. Without a companion (no transcoder, a failing or slow one) it
// plays the video only.
func TestOpusCompanion(t *testing.T) {
	fx := loadH264Fixture(t, 3)
	opus := loadOpusPackets(t, "3")
	bridgeFailed := errors.New("no plugin")
	tests := []struct {
		name      string
		audio     func(companion *media.Stream) ports.AudioCompanions // nil: Config.Audio unset
		ws        bool
		noAudio   bool // a WHEP offer without audio
		wantAudio bool
	}{
		{name: "WHEP with a companion", audio: serveCompanion, wantAudio: true},
		{name: "WebSocket with a companion", audio: serveCompanion, ws: true, wantAudio: true},
		{name: "viewer without audio", audio: serveCompanion, noAudio: true},
		{name: "no transcoder"},
		{name: "bridge fails", audio: func(*media.Stream) ports.AudioCompanions {
			return &fakeAudio{opusFor: func(context.Context, stream.Key) (*media.Stream, error) { return nil, bridgeFailed }}
		}},
		{name: "bridge too slow", ws: true, audio: func(*media.Stream) ports.AudioCompanions {
			return &fakeAudio{opusFor: func(ctx context.Context, _ stream.Key) (*media.Stream, error) {
				<-ctx.Done()
				return nil, ctx.Err()
			}}
		}},
		{name: "companion not Opus", audio: func(*media.Stream) ports.AudioCompanions {
			aac := media.NewStream([]media.Track{{Codec: media.AAC, ClockRate: 48000}}, media.StreamConfig{})
			t.Cleanup(aac.Close)
			return &fakeAudio{opusFor: func(context.Context, stream.Key) (*media.Stream, error) { return aac, nil }}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src, companion := companionStreams(t, fx)
			cfg := Config{AudioTimeout: 300 * time.Millisecond}
			var fa *fakeAudio
			if tc.audio != nil {
				cfg.Audio = tc.audio(companion)
				fa, _ = cfg.Audio.(*fakeAudio)
			}
			play := fakePlayback{play: func(context.Context, ports.PlayRequest) (*media.Stream, error) { return src, nil }}
			_, hs := newTestServer(t, cfg, fakeIngest{publish: noPublish}, play)

			// The stream runs a GOP (1 s) before the viewer comes.
			feed := newCompanionFeed(fx, opus, src, companion)
			const gop = 30
			feed.until(gop)

			var mu sync.Mutex
			var audio []*rtp.Packet
			opts := client.PlayOptions{Options: client.Options{Logger: testLogger()}, NoAudio: tc.noAudio,
				OnAudioPacket: func(p *rtp.Packet, _ time.Time) {
					mu.Lock()
					audio = append(audio, p.Clone())
					mu.Unlock()
				}}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var pl *client.Player
			var err error
			if tc.ws {
				pl, err = client.PlayWebSocket(ctx, "ws"+strings.TrimPrefix(hs.URL, "http")+"/LiveApp/websocket", "cam1", opts)
			} else {
				pl, err = client.Play(ctx, hs.URL+"/LiveApp/whep/cam1", opts)
			}
			if err != nil {
				t.Fatalf("play: %v", err)
			}
			defer pl.Close()
			waitFor(t, "the viewer's reader", 5*time.Second, func() bool { return src.Readers() == 1 })
			if tc.wantAudio {
				waitFor(t, "the viewer's companion reader", 5*time.Second, func() bool { return companion.Readers() == 1 })
			}
			feed.until(len(fx.aus))
			if err := pl.WaitFrames(ctx, len(fx.aus)-gop); err != nil {
				t.Fatal(err)
			}
			st := pl.Stats()
			if !strings.EqualFold(st.VideoCodec, pion.MimeTypeH264) || !st.FirstUnitKey {
				t.Fatalf("video: %+v, want H.264 from an IDR", st)
			}
			wantCalls := int32(1)
			if tc.noAudio {
				wantCalls = 0
			}
			if fa != nil && fa.calls.Load() != wantCalls {
				t.Fatalf("OpusFor called %d times, want %d", fa.calls.Load(), wantCalls)
			}
			if !tc.wantAudio {
				time.Sleep(100 * time.Millisecond)
				if st := pl.Stats(); st.AudioPackets != 0 {
					t.Fatalf("%d audio packets without a companion", st.AudioPackets)
				}
				return
			}
			// From the first picture (frame 29, at 966.7 ms) on: Opus
			// packet 49 (980 ms) to the last one.
			first, last := int((gop-1)*fixtureFrameDur/opusPacketDur)+1, feed.sentAudio()
			want := last - first
			waitFor(t, "the audio", 10*time.Second, func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(audio) >= want
			})
			mu.Lock()
			got := append([]*rtp.Packet(nil), audio...)
			mu.Unlock()
			if st := pl.Stats(); !strings.EqualFold(st.AudioCodec, pion.MimeTypeOpus) {
				t.Fatalf("audio codec %q, want Opus", st.AudioCodec)
			}
			if !bytes.Equal(got[0].Payload, opus[first]) {
				t.Fatalf("the first audio packet is not Opus packet %d (the first at or after the first picture)", first)
			}
			for i, p := range got {
				if !bytes.Equal(p.Payload, opus[first+i]) {
					t.Fatalf("audio packet %d is not Opus packet %d", i, first+i)
				}
				if d := p.Timestamp - got[0].Timestamp; d != uint32(i*960) {
					t.Fatalf("audio packet %d is %d ticks after the first, want %d (its PTS)", i, d, i*960)
				}
			}
			// pion's oggwriter sets an 80 ms pre-skip (RFC 7845's default).
			if d := decodeOpus(t, got); d < time.Duration(want)*opusPacketDur-oggPreSkip {
				t.Fatalf("ffmpeg decoded %v of audio, want %v", d, time.Duration(want)*opusPacketDur)
			}
		})
	}
}

// serveCompanion serves companion as the Opus companion of testKey.
func serveCompanion(companion *media.Stream) ports.AudioCompanions {
	return &fakeAudio{opusFor: func(_ context.Context, key stream.Key) (*media.Stream, error) {
		if key != testKey {
			return nil, ports.ErrStreamNotFound
		}
		return companion, nil
	}}
}

// companionFeed writes the fixture's video and AAC to a source stream and
// the Opus packets of the same instants to its companion.
type companionFeed struct {
	fx              h264Fixture
	opus            [][]byte
	src, companion  *media.Stream
	frames, packets int
}

func newCompanionFeed(fx h264Fixture, opus [][]byte, src, companion *media.Stream) *companionFeed {
	return &companionFeed{fx: fx, opus: opus, src: src, companion: companion}
}

// until writes the frames up to n (excluded), and the audio up to them,
// at about three times real time once the viewer is there.
func (f *companionFeed) until(n int) {
	live := f.frames > 0
	for ; f.frames < n; f.frames++ {
		u := f.fx.unit(f.frames)
		f.src.Write(u)
		f.src.Write(&media.Unit{Track: 1, PTS: u.PTS, DTS: u.PTS, Key: true, Data: []byte{0x21, 0x10}})
		for ; f.packets < len(f.opus) && time.Duration(f.packets)*opusPacketDur <= u.PTS; f.packets++ {
			pts := time.Duration(f.packets) * opusPacketDur
			f.companion.Write(&media.Unit{Track: 0, PTS: pts, DTS: pts, Key: true, Data: f.opus[f.packets]})
		}
		if live {
			time.Sleep(fixtureFrameDur / 3)
		}
	}
}

// sentAudio is the number of Opus packets written.
func (f *companionFeed) sentAudio() int { return f.packets }
