package ffmpeg

import (
	"fmt"
	"strconv"
)

// Profile is an encoder family: how ffmpeg is told to scale and encode.
type Profile struct {
	kind profileKind
	// Name is the plugin name: "ffmpeg", "nvenc" or "qsv".
	Name string
	// Encoder is the ffmpeg H.264 encoder.
	Encoder string
	// Hardware is true when the encoder needs an accelerator.
	Hardware bool
}

type profileKind int

const (
	kindSoftware profileKind = iota
	kindNVENC
	kindQSV
)

// Software encodes with libx264 and scales on the CPU.
func Software() Profile { return Profile{kind: kindSoftware, Name: "ffmpeg", Encoder: "libx264"} }

// NVENC encodes with h264_nvenc and scales on the NVIDIA GPU (hwupload_cuda, scale_cuda).
func NVENC() Profile {
	return Profile{kind: kindNVENC, Name: "nvenc", Encoder: "h264_nvenc", Hardware: true}
}

// QSV encodes with h264_qsv and scales on Intel QuickSync (hwupload, scale_qsv).
func QSV() Profile { return Profile{kind: kindQSV, Name: "qsv", Encoder: "h264_qsv", Hardware: true} }

// ProfileByName returns the profile called name.
func ProfileByName(name string) (Profile, error) {
	for _, p := range []Profile{Software(), NVENC(), QSV()} {
		if p.Name == name {
			return p, nil
		}
	}
	return Profile{}, fmt.Errorf("ffmpeg plugin: unknown profile %q", name)
}

// globalArgs are the options before the input: the hardware device.
func (p Profile) globalArgs() []string {
	switch p.kind {
	case kindNVENC:
		return []string{"-init_hw_device", "cuda=gpu:0", "-filter_hw_device", "gpu"}
	case kindQSV:
		return []string{"-init_hw_device", "qsv=gpu", "-filter_hw_device", "gpu"}
	}
	return nil
}

// upload is the filter chain that takes decoded frames to the encoder's memory.
func (p Profile) upload() string {
	switch p.kind {
	case kindNVENC:
		return "format=nv12,hwupload_cuda"
	case kindQSV:
		return "format=nv12,hwupload=extra_hw_frames=64"
	}
	return "format=yuv420p"
}

// scale is the filter that resizes to w x h.
func (p Profile) scale(w, h int) string {
	switch p.kind {
	case kindNVENC:
		return fmt.Sprintf("scale_cuda=%d:%d", w, h)
	case kindQSV:
		return fmt.Sprintf("scale_qsv=w=%d:h=%d", w, h)
	}
	return fmt.Sprintf("scale=%d:%d:flags=bicubic", w, h)
}

// encoderArgs are the video encoder options for one rung: constant bitrate
// with a one-second buffer, no B-frames (WebRTC and low latency), and
// keyframes only where the source has them (gop is the fallback interval).
func (p Profile) encoderArgs(bitrate, gop int) []string {
	b := strconv.Itoa(bitrate)
	g := strconv.Itoa(gop)
	var a []string
	switch p.kind {
	case kindNVENC:
		a = []string{"-c:v", p.Encoder, "-preset", "p4", "-tune", "ll", "-rc", "cbr", "-zerolatency", "1",
			"-forced-idr", "1", "-profile:v", "high"}
	case kindQSV:
		a = []string{"-c:v", p.Encoder, "-preset", "veryfast", "-look_ahead", "0", "-async_depth", "1",
			"-forced_idr", "1", "-profile:v", "high"}
	default:
		a = []string{"-c:v", p.Encoder, "-preset", "veryfast", "-tune", "zerolatency", "-profile:v", "high",
			"-sc_threshold", "0", "-forced-idr", "1"}
	}
	return append(a, "-bf", "0", "-g", g, "-b:v", b, "-maxrate", b, "-bufsize", b,
		"-force_key_frames", "source", "-fps_mode", "passthrough",
		// keep the 90 kHz time base: otherwise ffmpeg rounds timestamps to a
		// guessed frame rate and keyframes drift off the source's
		"-enc_time_base:v", "1:90000")
}

// hint explains a failed trial encode of this profile.
func (p Profile) hint() string {
	switch p.kind {
	case kindNVENC:
		return "no usable NVIDIA GPU (h264_nvenc needs an NVENC-capable GPU and the driver's libcuda/libnvidia-encode)"
	case kindQSV:
		return "no usable Intel QuickSync device (h264_qsv needs an Intel GPU with its media driver and oneVPL/libmfx)"
	}
	return "libx264 does not work"
}
