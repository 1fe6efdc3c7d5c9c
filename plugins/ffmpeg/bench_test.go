package ffmpeg

import (
	"context"
	"errors"
	"io"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/colony-live/colony/plugins/ffmpeg/ffmpegtest"
	transcoderv1 "github.com/colony-live/colony/plugins/transcoder/v1"
)

// BenchmarkLadder measures the transcoder on the benchmark clip's shape
// (720p30, 2 Mbit/s, 1 s GOP, AAC), fed as fast as ffmpeg takes it, one
// rendition at a time and as the whole ladder:
//
//   - rtf: real-time factor, seconds of media transcoded per wall second
//     (above 1 keeps up with a live source; the whole ladder's rtf is how
//     many such live streams one machine like this could carry);
//   - cores: CPU seconds (ffmpeg and the plugin's own Go code) per second of
//     media, i.e. the cores one live stream keeps busy.
//
// The encoder family comes from COLONY_BENCH_TRANSCODER (ffmpeg, the
// default; nvenc or qsv on a GPU host):
//
//	go test -run '^$' -bench Ladder -benchtime 3x ./plugins/ffmpeg
//	COLONY_BENCH_TRANSCODER=nvenc go test -run '^$' -bench Ladder -benchtime 3x ./plugins/ffmpeg
func BenchmarkLadder(b *testing.B) {
	name := os.Getenv("COLONY_BENCH_TRANSCODER")
	if name == "" {
		name = "ffmpeg"
	}
	profile, err := ProfileByName(name)
	if err != nil {
		b.Fatal(err)
	}
	const clipLen = 10 * time.Second
	clip := ffmpegtest.Make(b, ffmpegtest.ClipConfig{Width: 1280, Height: 720, FPS: 30, Duration: clipLen, GOP: time.Second, VideoBitrate: 2_000_000})
	tracks := make([]*transcoderv1.Track, len(clip.Tracks))
	for i, t := range clip.Tracks {
		tracks[i] = wireTrack(t)
	}
	units := make([]*transcoderv1.Unit, len(clip.Units))
	for i, u := range clip.Units {
		units[i] = wireUnit(u)
	}
	r480 := &transcoderv1.Rung{Name: "480p", Height: 480, VideoBitrate: 800_000, AudioBitrate: 96_000}
	r360 := &transcoderv1.Rung{Name: "360p", Height: 360, VideoBitrate: 500_000, AudioBitrate: 64_000}
	r240 := &transcoderv1.Rung{Name: "240p", Height: 240, VideoBitrate: 300_000, AudioBitrate: 64_000}
	for _, bc := range []struct {
		name   string
		ladder []*transcoderv1.Rung
	}{
		{"480p", []*transcoderv1.Rung{r480}},
		{"360p", []*transcoderv1.Rung{r360}},
		{"240p", []*transcoderv1.Rung{r240}},
		{"480p+360p+240p", []*transcoderv1.Rung{r480, r360, r240}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			p, err := New(Config{Profile: profile})
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			probe, err := p.Probe(context.Background())
			if err != nil {
				b.Fatal(err)
			}
			if !probe.GetHardwareOk() {
				b.Fatalf("%s cannot encode on this machine: %s", name, probe.GetReason())
			}
			var wall, cpu time.Duration
			for b.Loop() {
				cpu0 := cpuTime()
				t0 := time.Now()
				ladderOnce(b, p, &transcoderv1.Start{Session: "bench", Tracks: tracks, Ladder: bc.ladder}, units)
				wall += time.Since(t0)
				cpu += cpuTime() - cpu0
			}
			media := time.Duration(b.N) * clipLen
			b.ReportMetric(media.Seconds()/wall.Seconds(), "rtf")
			b.ReportMetric(cpu.Seconds()/media.Seconds(), "cores")
		})
	}
}

// ladderOnce runs one session over units and waits for its end; every
// rendition must produce video.
func ladderOnce(b *testing.B, p *Plugin, start *transcoderv1.Start, units []*transcoderv1.Unit) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := p.Transcode(ctx, start)
	if err != nil {
		b.Fatal(err)
	}
	sendErr := make(chan error, 1)
	go func() {
		for _, u := range units {
			if err := s.Send(u); err != nil {
				sendErr <- err
				return
			}
		}
		sendErr <- s.CloseSend()
	}()
	frames := make([]int, len(start.Ladder))
	for {
		r, err := s.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
		if m, ok := r.Msg.(*transcoderv1.TranscodeResponse_Unit); ok && m.Unit.Unit.Track == 0 {
			frames[m.Unit.Rendition]++
		}
	}
	if err := <-sendErr; err != nil {
		b.Fatal(err)
	}
	for i, n := range frames {
		if n == 0 {
			b.Fatalf("rendition %s produced no video", start.Ladder[i].Name)
		}
	}
}

// cpuTime is the CPU time of this process and of its waited-for children
// (the ffmpeg processes).
func cpuTime() time.Duration {
	var total time.Duration
	for _, who := range []int{syscall.RUSAGE_SELF, syscall.RUSAGE_CHILDREN} {
		var ru syscall.Rusage
		if err := syscall.Getrusage(who, &ru); err == nil {
			total += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		}
	}
	return total
}
