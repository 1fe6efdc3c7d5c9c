package pluginhost

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/opus"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4/pkg/media/oggwriter"

	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/plugins/ffmpeg/ffmpegtest"
)

func TestBridgeAudio(t *testing.T) {
	t.Parallel()
	h, _ := newHost(t, "real", Config{Plugin: "ffmpeg"})
	tests := []struct {
		name     string
		from, to media.Codec
	}{
		{"aac to opus", media.AAC, media.Opus},
		{"opus to aac", media.Opus, media.AAC},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clipLen := 6 * time.Second
			clip := ffmpegtest.Make(t, ffmpegtest.ClipConfig{Width: 320, Height: 180, Duration: clipLen, Audio: tt.from})
			// A reader of a stream with video starts at a video keyframe:
			// the bridge's first audio is the first after one of them.
			starts := map[time.Duration]bool{}
			keyed := false
			for _, u := range clip.Units {
				if u.Track == 0 && u.Key {
					keyed = true
				} else if keyed && clip.Tracks[u.Track].Codec == tt.from {
					starts[u.PTS], keyed = true, false
				}
			}
			// In real time: the bridge must be up (a plugin process, its
			// handshake, ffmpeg) before the source ends, which takes a
			// second or two on a loaded machine.
			src, _ := play(t, clip, 1)
			time.Sleep(200 * time.Millisecond) // the source has its first GOP cached
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out, err := h.BridgeAudio(ctx, testKey, src, tt.to, 64_000)
			if err != nil {
				t.Fatal(err)
			}
			tr := out.Tracks()
			if len(tr) != 1 || tr[0].Codec != tt.to || tr[0].ClockRate != 48000 || tr[0].SampleRate != 48000 {
				t.Fatalf("bridged tracks = %+v", tr)
			}
			got := collect(t, out)()
			if len(got) == 0 {
				t.Fatal("no units")
			}
			startedAt := time.Duration(-1)
			for p := range starts {
				if d := got[0].u.PTS - p; d > -50*time.Millisecond && d < 50*time.Millisecond {
					startedAt = p
				}
			}
			if startedAt < 0 {
				t.Fatalf("first bridged unit at %v, not at the source's first audio after a keyframe (%v)", got[0].u.PTS, starts)
			}
			clipLen -= startedAt
			var total time.Duration
			prev := time.Duration(-1 << 62)
			for _, a := range got {
				if a.u.PTS <= prev {
					t.Fatalf("timestamps not increasing: %v after %v", a.u.PTS, prev)
				}
				prev = a.u.PTS
				if tt.to == media.Opus {
					d := opus.PacketDuration(a.u.Data)
					if d != 20*time.Millisecond {
						t.Fatalf("opus packet of %v (TOC %#x), want 20ms", d, a.u.Data[0])
					}
					total += d
				} else {
					total += 1024 * time.Second / 48000
				}
			}
			if total < clipLen-300*time.Millisecond || total > clipLen+100*time.Millisecond {
				t.Errorf("bridged %v of audio from a %v clip", total, clipLen)
			}
			decoded := decode(t, tt.to, tr[0], got)
			if decoded < clipLen-400*time.Millisecond || decoded > clipLen+100*time.Millisecond {
				t.Errorf("ffmpeg decoded %v of audio, want about %v", decoded, clipLen)
			}
		})
	}
}

var ffmpegTime = regexp.MustCompile(`time=(\d+):(\d+):(\d+\.\d+)`)

// decode writes the units to a file (Ogg for Opus, ADTS for AAC), decodes
// it with ffmpeg, which must report no error, and returns how much audio
// came out.
func decode(t *testing.T, c media.Codec, tr media.Track, got []arrival) time.Duration {
	t.Helper()
	dir := t.TempDir()
	var path string
	if c == media.Opus {
		path = filepath.Join(dir, "out.ogg")
		w, err := oggwriter.New(path, 48000, 2)
		if err != nil {
			t.Fatal(err)
		}
		for i, a := range got {
			p := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: uint16(i),
				Timestamp: uint32(a.u.PTS * 48000 / time.Second)}, Payload: a.u.Data}
			if err := w.WriteRTP(p); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	} else {
		var conf mpeg4audio.AudioSpecificConfig
		if err := conf.Unmarshal(tr.Config); err != nil {
			t.Fatal(err)
		}
		pkts := make(mpeg4audio.ADTSPackets, len(got))
		for i, a := range got {
			pkts[i] = &mpeg4audio.ADTSPacket{Type: conf.Type, SampleRate: conf.SampleRate, ChannelConfig: conf.ChannelConfig, AU: a.u.Data}
		}
		b, err := pkts.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		path = filepath.Join(dir, "out.aac")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var stderr bytes.Buffer
	cmd := exec.Command("ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-stats", "-i", path, "-f", "null", "-")
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("ffmpeg cannot decode the bridged %s: %v\n%s", c, err, stderr.String())
	}
	out := stderr.String()
	m := ffmpegTime.FindAllStringSubmatch(out, -1)
	if len(m) == 0 {
		t.Fatalf("no duration in ffmpeg's output: %s", out)
	}
	if lines := bytes.Count(bytes.TrimSpace([]byte(ffmpegTime.ReplaceAllString(out, ""))), []byte("\n")); lines > 1 {
		t.Errorf("ffmpeg reported errors decoding the bridged %s:\n%s", c, out)
	}
	last := m[len(m)-1]
	hh, _ := strconv.Atoi(last[1])
	mm, _ := strconv.Atoi(last[2])
	ss, _ := strconv.ParseFloat(last[3], 64)
	return time.Duration((float64(hh*3600+mm*60) + ss) * float64(time.Second))
}
