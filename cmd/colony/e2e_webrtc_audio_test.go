//go:build e2e

package main

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/opus"

	"github.com/colony-live/colony/adapters/webrtc/client"
	"github.com/pion/rtp"
	pion "github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media/oggwriter"
)

// The audio of an RTMP (AAC) stream heard over WebRTC: the real ffmpeg
// transcoder plugin bridges it to Opus.

// audioPlayPackets is how much Opus a viewer waits for: 4 s.
const audioPlayPackets = 200

// TestWebRTCAudio: ffmpeg publishes the clip (H.264 + AAC) over RTMP to a
// node with the ffmpeg transcoder plugin; pion viewers (WHEP, then Ant
// Media's WebSocket play) receive Opus that ffmpeg decodes, beside the
// video, and the bridge is started once for both.
func TestWebRTCAudio(t *testing.T) {
	n := audioNode(t, "audio", "au1", "")

	viewers := []struct {
		name string
		play func(context.Context, client.PlayOptions) (*client.Player, error)
	}{
		{"WHEP", func(ctx context.Context, o client.PlayOptions) (*client.Player, error) {
			return client.Play(ctx, n.HTTP+"/LiveApp/whep/au1", o)
		}},
		{"WebSocket", func(ctx context.Context, o client.PlayOptions) (*client.Player, error) {
			return client.PlayWebSocket(ctx, wsURL(n, "LiveApp"), "au1", o)
		}},
	}
	for _, v := range viewers {
		t.Run(v.name, func(t *testing.T) { playAudio(t, v.play) })
	}
	log := n.log.String()
	if c := countLines(log, `msg="audio bridged"`, "to=Opus"); c != 1 {
		t.Errorf("the audio bridge started %d times for two viewers, want once:\n%s", c, abrGrep(log, "Opus"))
	}
	if strings.Contains(log, "cannot be bridged") {
		t.Errorf("a viewer went without audio:\n%s", abrGrep(log, "bridged"))
	}
	for _, l := range strings.Split(abrGrep(log, "Opus companion audio lag"), "\n") {
		if i := strings.Index(l, "lag="); i >= 0 {
			t.Logf("server: audio sent %s after the video of the same instant", strings.Fields(l[i:])[0][4:])
		}
	}
}

// TestWebRTCAudioFrame: with transcoder.opus_frame_ms: 60 a WHEP viewer
// of an RTMP (AAC) stream receives Opus packets of 60 ms each, 2880 RTP
// ticks apart (to the source's millisecond), that ffmpeg decodes: the setting reaches the plugin.
func TestWebRTCAudioFrame(t *testing.T) {
	n := audioNode(t, "audio60", "au60", "  opus_frame_ms: 60\n")

	const want = 50 // 3 s
	var mu sync.Mutex
	var audio []*rtp.Packet
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pl, err := client.Play(ctx, n.HTTP+"/LiveApp/whep/au60", client.PlayOptions{
		Options: client.Options{Logger: clientLogger()},
		OnAudioPacket: func(p *rtp.Packet, _ time.Time) {
			mu.Lock()
			defer mu.Unlock()
			audio = append(audio, p.Clone())
		},
	})
	if err != nil {
		t.Fatalf("play: %v", err)
	}
	eventually(t, 30*time.Second, "Opus packets", func() error {
		if st := pl.Stats(); st.AudioPackets < want {
			return fmt.Errorf("%d audio packets", st.AudioPackets)
		}
		return nil
	})
	if err := pl.Close(); err != nil {
		t.Fatalf("play session ended with %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	for i, p := range audio {
		if d := opus.PacketDuration(p.Payload); d != 60*time.Millisecond {
			t.Fatalf("Opus packet %d lasts %v, want 60ms", i, d)
		}
		// The timestamps follow the source's, which RTMP gives to the
		// millisecond: within 2 ms (96 ticks) of 60 ms apart.
		if i == 0 || p.SequenceNumber != audio[i-1].SequenceNumber+1 {
			continue
		}
		if gap := int32(p.Timestamp - audio[i-1].Timestamp); gap < 2880-96 || gap > 2880+96 {
			t.Fatalf("Opus packet %d is %d ticks after the previous one, want 2880", i, gap)
		}
	}
	if decoded := decodeOgg(t, audio); decoded < 2*time.Second {
		t.Fatalf("ffmpeg decoded %v of the %d Opus packets received, want at least 2 s", decoded, len(audio))
	}
}

// audioNode starts a node with the ffmpeg transcoder plugin (and the
// transcoder settings in extra, YAML indented under transcoder:) and
// publishes the clip over RTMP as LiveApp/id.
func audioNode(t *testing.T, name, id, extra string) *colonyNode {
	t.Helper()
	dir := t.TempDir()
	abrColonyOK(t, "plugins", "--plugin-dir", dir, "install", filepath.Join(filepath.Dir(colonyBin(t)), pluginPrefix+"ffmpeg"))
	n := startNode(t, name, nodeOpts{config: fmt.Sprintf("transcoder:\n  plugin: ffmpeg\n  plugin_dir: %q\n", dir) + extra})
	publish(t, n.RTMP+"/LiveApp/"+id)
	waitStatus(t, n, "LiveApp", id, "broadcasting", 15*time.Second)
	return n
}

// countLines counts the lines of log that contain every one of parts.
func countLines(log string, parts ...string) int {
	n := 0
	for _, l := range strings.Split(log, "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(l, p)
		}
		if all {
			n++
		}
	}
	return n
}

// arrived is a packet or an access unit with its arrival time.
type arrived struct {
	ts uint32
	at time.Time
}

// playAudio plays with play until audioPlayPackets Opus packets came and
// checks that they decode, beside the video.
func playAudio(t *testing.T, play func(context.Context, client.PlayOptions) (*client.Player, error)) {
	t.Helper()
	var mu sync.Mutex
	var audio []*rtp.Packet
	var audioAt, videoAt []arrived
	opts := client.PlayOptions{
		Options: client.Options{Logger: clientLogger()},
		OnAudioPacket: func(p *rtp.Packet, at time.Time) {
			mu.Lock()
			defer mu.Unlock()
			audio = append(audio, p.Clone())
			audioAt = append(audioAt, arrived{p.Timestamp, at})
		},
		OnAccessUnit: func(au client.AccessUnit) {
			mu.Lock()
			defer mu.Unlock()
			videoAt = append(videoAt, arrived{au.RTPTimestamp, au.Arrival})
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	pl, err := play(ctx, opts)
	if err != nil {
		t.Fatalf("play: %v", err)
	}
	eventually(t, 30*time.Second, "Opus packets", func() error {
		if st := pl.Stats(); st.AudioPackets < audioPlayPackets || st.AccessUnits < 90 {
			return fmt.Errorf("%d audio packets, %d frames", st.AudioPackets, st.AccessUnits)
		}
		return nil
	})
	if err := pl.Close(); err != nil {
		t.Fatalf("play session ended with %v", err)
	}
	st := pl.Stats()
	if !strings.EqualFold(st.AudioCodec, pion.MimeTypeOpus) || !strings.EqualFold(st.VideoCodec, pion.MimeTypeH264) || !st.FirstUnitKey {
		t.Fatalf("stats %+v, want Opus and H.264 from an IDR", st)
	}
	mu.Lock()
	defer mu.Unlock()
	decoded := decodeOgg(t, audio)
	if decoded < 2*time.Second {
		t.Fatalf("ffmpeg decoded %v of the %d Opus packets received, want at least 2 s", decoded, len(audio))
	}
	t.Logf("first frame after %v, first audio packet after %v; %d Opus packets, %v decoded; %d frames",
		st.FirstFrameAt.Sub(start).Round(time.Millisecond), st.FirstAudioAt.Sub(start).Round(time.Millisecond),
		len(audio), decoded.Round(time.Millisecond), st.AccessUnits)
	skew, ok := arrivalSkew(videoAt, audioAt)
	if !ok {
		t.Fatal("cannot find the video's anchor frame (the end of the first-GOP burst)")
	}
	t.Logf("lip sync (rough): the audio arrives %v after the video of the same instant (±20 ms)", skew.Round(time.Millisecond))
	if skew < -time.Second || skew > time.Second {
		t.Errorf("audio and video arrive %v apart: not on one timeline", skew)
	}
}

// decodeOgg writes Opus packets to an Ogg file and decodes it with ffmpeg:
// any decoder message fails the test. It returns the audio decoded.
func decodeOgg(t *testing.T, pkts []*rtp.Packet) time.Duration {
	t.Helper()
	path := filepath.Join(t.TempDir(), "received.ogg")
	w, err := oggwriter.New(path, 48000, 2)
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
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-v", "error", "-i", path, "-f", "framemd5", "-")
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

// arrivalSkew estimates how much later the audio of an instant arrives
// than its video (the difference of the median arrival time minus media
// time). Both RTP clocks start at the server's anchor: the video's at the
// last frame of its first-GOP burst (frames one tick apart), the audio's
// within 20 ms of its first packet.
func arrivalSkew(video, audio []arrived) (time.Duration, bool) {
	k := -1
	for i := 0; i+1 < len(video); i++ {
		if video[i+1].ts-video[i].ts != 1 {
			k = i
			break
		}
	}
	if k < 0 || len(audio) == 0 {
		return 0, false
	}
	offsets := func(xs []arrived, clock int64) time.Duration {
		var ds []time.Duration
		for _, x := range xs {
			media := time.Duration(int64(int32(x.ts-xs[0].ts)) * int64(time.Second) / clock)
			ds = append(ds, x.at.Sub(xs[0].at)-media)
		}
		slices.Sort(ds)
		return ds[len(ds)/2]
	}
	base := video[k].at // both offsets are measured from the anchor frame's arrival
	v := offsets(video[k:], 90000)
	a := offsets(audio, 48000) + audio[0].at.Sub(base)
	return a - v, true
}
