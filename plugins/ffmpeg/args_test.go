package ffmpeg

import (
	"errors"
	"slices"
	"strings"
	"testing"

	transcoderv1 "github.com/colony-live/colony/plugins/transcoder/v1"
)

var (
	h264Track = &transcoderv1.Track{Codec: codecH264, ClockRate: 90000, Sps: []byte{0x67, 0x64, 0, 0x1e}, Pps: []byte{0x68}, Width: 640, Height: 360}
	aacTrack  = &transcoderv1.Track{Codec: codecAAC, ClockRate: 48000, Config: []byte{0x11, 0x90}, SampleRate: 48000, Channels: 2}
	opusTrack = &transcoderv1.Track{Codec: codecOpus, ClockRate: 48000, SampleRate: 48000, Channels: 2}
)

// argAfter returns the argument that follows the n-th (0-based) occurrence of flag.
func argAfter(args []string, flag string, n int) string {
	for i, a := range args {
		if a == flag && i+1 < len(args) {
			if n == 0 {
				return args[i+1]
			}
			n--
		}
	}
	return ""
}

func TestArgs(t *testing.T) {
	ladder := []*transcoderv1.Rung{
		{Name: "360p", Height: 360, VideoBitrate: 800_000},
		{Name: "240p", Height: 240, VideoBitrate: 400_000, AudioBitrate: 64_000},
	}
	tests := []struct {
		name    string
		profile Profile
		start   *transcoderv1.Start
		filter  string
		want    []string // arguments that must appear, in this order
		encoder string
		audio   []string // codec of each output's audio
	}{
		{"software ladder, audio copied", Software(),
			&transcoderv1.Start{Tracks: []*transcoderv1.Track{h264Track, aacTrack}, Ladder: ladder, Options: &transcoderv1.Options{CopyAudio: true}},
			"[0:v:0]format=yuv420p,split=2[s0][s1];[s0]scale=640:360:flags=bicubic[v0];[s1]scale=426:240:flags=bicubic[v1]",
			[]string{"-copyts", "-i", "pipe:0", "-map", "[v0]", "-force_key_frames", "source", "pipe:3", "-map", "[v1]", "pipe:4"},
			"libx264", []string{"copy", "copy"}},
		{"nvenc scales on the GPU, audio encoded", NVENC(),
			&transcoderv1.Start{Tracks: []*transcoderv1.Track{h264Track, aacTrack}, Ladder: ladder[:1]},
			"[0:v:0]format=nv12,hwupload_cuda,scale_cuda=640:360[v0]",
			[]string{"-init_hw_device", "cuda=gpu:0", "-filter_hw_device", "gpu", "-i", "pipe:0", "-forced-idr", "1", "pipe:3"},
			"h264_nvenc", []string{"aac"}},
		{"qsv scales with scale_qsv", QSV(),
			&transcoderv1.Start{Tracks: []*transcoderv1.Track{h264Track}, Ladder: ladder[1:]},
			"[0:v:0]format=nv12,hwupload=extra_hw_frames=64,scale_qsv=w=426:h=240[v0]",
			[]string{"-init_hw_device", "qsv=gpu", "-i", "pipe:0", "-forced_idr", "1", "-b:v", "400000", "-maxrate", "400000", "-bufsize", "400000", "pipe:3"},
			"h264_qsv", nil},
		{"opus bridge", Software(),
			&transcoderv1.Start{Tracks: []*transcoderv1.Track{aacTrack}, Ladder: []*transcoderv1.Rung{{Name: "opus", AudioCodec: codecOpus, AudioBitrate: 32_000}}, Options: &transcoderv1.Options{CopyAudio: true}},
			"", []string{"-map", "0:a:0", "-c:a", "libopus", "-b:a", "32000", "-ar", "48000", "-frame_duration", "20", "pipe:3"}, "", []string{"libopus"}},
		{"opus bridge with 60 ms packets", Software(),
			&transcoderv1.Start{Tracks: []*transcoderv1.Track{aacTrack}, Ladder: []*transcoderv1.Rung{{Name: "opus", AudioCodec: codecOpus, AudioFrameMs: 60}}},
			"", []string{"-map", "0:a:0", "-c:a", "libopus", "-b:a", "64000", "-frame_duration", "60", "pipe:3"}, "", []string{"libopus"}},
		{"opus to aac for a video rung", Software(),
			&transcoderv1.Start{Tracks: []*transcoderv1.Track{opusTrack, h264Track}, Ladder: ladder[1:], Options: &transcoderv1.Options{CopyAudio: true}},
			"[0:v:0]format=yuv420p,scale=426:240:flags=bicubic[v0]", []string{"-c:a", "aac", "-b:a", "64000", "pipe:3"}, "libx264", []string{"aac"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j, err := newJob(tt.start)
			if err != nil {
				t.Fatal(err)
			}
			args := j.args(tt.profile)
			if got := argAfter(args, "-filter_complex", 0); got != tt.filter {
				t.Errorf("filter graph %q, want %q", got, tt.filter)
			}
			if got := argAfter(args, "-c:v", 0); got != tt.encoder {
				t.Errorf("encoder %q, want %q", got, tt.encoder)
			}
			for i, want := range tt.audio {
				if got := argAfter(args, "-c:a", i); got != want {
					t.Errorf("output %d audio codec %q, want %q", i, got, want)
				}
			}
			if argAfter(args, "-c:a", len(tt.audio)) != "" {
				t.Errorf("more audio outputs than %d: %v", len(tt.audio), args)
			}
			rest := args
			for _, w := range tt.want {
				i := slices.Index(rest, w)
				if i < 0 {
					t.Fatalf("args lack %q (in order %v):\n%s", w, tt.want, strings.Join(args, " "))
				}
				rest = rest[i+1:]
			}
		})
	}
}

func TestNewJobRejects(t *testing.T) {
	vr := &transcoderv1.Rung{Name: "240p", Height: 240, VideoBitrate: 1}
	tests := []struct {
		name  string
		start *transcoderv1.Start
	}{
		{"empty ladder", &transcoderv1.Start{Tracks: []*transcoderv1.Track{h264Track}}},
		{"two videos", &transcoderv1.Start{Tracks: []*transcoderv1.Track{h264Track, h264Track}, Ladder: []*transcoderv1.Rung{vr}}},
		{"no SPS", &transcoderv1.Start{Tracks: []*transcoderv1.Track{{Codec: codecH264, Width: 1, Height: 1}}, Ladder: []*transcoderv1.Rung{vr}}},
		{"VP8", &transcoderv1.Start{Tracks: []*transcoderv1.Track{{Codec: "VP8"}}, Ladder: []*transcoderv1.Rung{vr}}},
		{"video rung without video", &transcoderv1.Start{Tracks: []*transcoderv1.Track{aacTrack}, Ladder: []*transcoderv1.Rung{vr}}},
		{"no bitrate", &transcoderv1.Start{Tracks: []*transcoderv1.Track{h264Track}, Ladder: []*transcoderv1.Rung{{Height: 240}}}},
		{"audio rung without codec", &transcoderv1.Start{Tracks: []*transcoderv1.Track{aacTrack}, Ladder: []*transcoderv1.Rung{{Name: "a"}}}},
		{"audio rung without audio", &transcoderv1.Start{Tracks: []*transcoderv1.Track{h264Track}, Ladder: []*transcoderv1.Rung{{AudioCodec: codecOpus}}}},
		{"AAC without config", &transcoderv1.Start{Tracks: []*transcoderv1.Track{{Codec: codecAAC}}, Ladder: []*transcoderv1.Rung{{AudioCodec: codecOpus}}}},
		{"Opus frame of 30 ms", &transcoderv1.Start{Tracks: []*transcoderv1.Track{aacTrack}, Ladder: []*transcoderv1.Rung{{AudioCodec: codecOpus, AudioFrameMs: 30}}}},
		{"Opus frame of 120 ms", &transcoderv1.Start{Tracks: []*transcoderv1.Track{aacTrack}, Ladder: []*transcoderv1.Rung{{AudioCodec: codecOpus, AudioFrameMs: 120}}}},
		{"unknown audio codec", &transcoderv1.Start{Tracks: []*transcoderv1.Track{h264Track}, Ladder: []*transcoderv1.Rung{{Height: 240, VideoBitrate: 1, AudioCodec: "MP3"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := newJob(tt.start); !errors.Is(err, ErrInvalidStart) {
				t.Fatalf("error = %v, want ErrInvalidStart", err)
			}
		})
	}
}

func TestProfileByName(t *testing.T) {
	for _, n := range []string{"ffmpeg", "nvenc", "qsv"} {
		if p, err := ProfileByName(n); err != nil || p.Name != n {
			t.Fatalf("ProfileByName(%q) = %+v, %v", n, p, err)
		}
	}
	if _, err := ProfileByName("vaapi"); err == nil {
		t.Fatal("unknown profile accepted")
	}
}
