package ffmpeg

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	transcoderv1 "github.com/colony-live/colony/plugins/transcoder/v1"
)

// ErrInvalidStart is returned (wrapped) for a Start this plugin cannot serve.
var ErrInvalidStart = errors.New("invalid transcode start")

// Codec names on the wire (the same as Colony's media.Codec values).
const (
	codecH264 = "H264"
	codecAAC  = "AAC"
	codecOpus = "Opus"
)

// defaultGOP bounds the encoder's own keyframe interval, in frames, when the
// source has no keyframe for that long.
const defaultGOP = 600

// defaultOpusFrameMS is the Opus packet duration when a rung names none:
// what browsers send, the lowest latency WebRTC players are tuned for.
const defaultOpusFrameMS = 20

// validOpusFrame reports whether ms is an Opus packet duration a rung may
// ask for: 0 (the default) or one that WebRTC players take (RFC 7587
// allows up to 120 ms; longer ones only add latency).
func validOpusFrame(ms uint32) bool {
	switch ms {
	case 0, 10, 20, 40, 60:
		return true
	}
	return false
}

// job is a validated Start: which input tracks feed which outputs.
type job struct {
	start  *transcoderv1.Start
	video  int // index of the video track in start.Tracks, -1 if none
	audio  int // index of the audio track, -1 if none
	width  int // source picture size
	height int
}

// newJob checks start: at most one H.264 video and one AAC or Opus audio
// track, and rungs the source can feed.
func newJob(start *transcoderv1.Start) (*job, error) {
	j := &job{start: start, video: -1, audio: -1}
	for i, t := range start.GetTracks() {
		switch t.GetCodec() {
		case codecH264:
			if j.video >= 0 {
				return nil, fmt.Errorf("%w: more than one video track", ErrInvalidStart)
			}
			if len(t.GetSps()) == 0 || len(t.GetPps()) == 0 {
				return nil, fmt.Errorf("%w: H264 track %d has no SPS/PPS", ErrInvalidStart, i)
			}
			j.video, j.width, j.height = i, int(t.GetWidth()), int(t.GetHeight())
		case codecAAC, codecOpus:
			if j.audio >= 0 {
				return nil, fmt.Errorf("%w: more than one audio track", ErrInvalidStart)
			}
			if t.GetCodec() == codecAAC && len(t.GetConfig()) == 0 {
				return nil, fmt.Errorf("%w: AAC track %d has no AudioSpecificConfig", ErrInvalidStart, i)
			}
			j.audio = i
		default:
			return nil, fmt.Errorf("%w: unsupported source codec %q (track %d)", ErrInvalidStart, t.GetCodec(), i)
		}
	}
	if len(start.GetLadder()) == 0 {
		return nil, fmt.Errorf("%w: empty ladder", ErrInvalidStart)
	}
	for i, r := range start.GetLadder() {
		switch {
		case r.GetHeight() > 0 && j.video < 0:
			return nil, fmt.Errorf("%w: rung %d (%s) needs a video source", ErrInvalidStart, i, r.GetName())
		case r.GetHeight() > 0 && (j.width <= 0 || j.height <= 0):
			return nil, fmt.Errorf("%w: the source picture size is unknown", ErrInvalidStart)
		case r.GetHeight() > 0 && r.GetVideoBitrate() == 0:
			return nil, fmt.Errorf("%w: rung %d (%s) has no video bitrate", ErrInvalidStart, i, r.GetName())
		case r.GetHeight() == 0 && j.audio < 0:
			return nil, fmt.Errorf("%w: audio-only rung %d (%s) needs an audio source", ErrInvalidStart, i, r.GetName())
		case r.GetHeight() == 0 && r.GetAudioCodec() != codecAAC && r.GetAudioCodec() != codecOpus:
			return nil, fmt.Errorf("%w: audio-only rung %d (%s) must name AAC or Opus, not %q", ErrInvalidStart, i, r.GetName(), r.GetAudioCodec())
		case r.GetAudioCodec() != "" && r.GetAudioCodec() != codecAAC && r.GetAudioCodec() != codecOpus:
			return nil, fmt.Errorf("%w: rung %d (%s): unsupported audio codec %q", ErrInvalidStart, i, r.GetName(), r.GetAudioCodec())
		case !validOpusFrame(r.GetAudioFrameMs()):
			return nil, fmt.Errorf("%w: rung %d (%s): an Opus frame of %d ms (want 10, 20, 40 or 60)", ErrInvalidStart, i, r.GetName(), r.GetAudioFrameMs())
		}
	}
	return j, nil
}

// hasVideo reports whether any rung is a video rung.
func (j *job) hasVideo() bool {
	for _, r := range j.start.GetLadder() {
		if r.GetHeight() > 0 {
			return true
		}
	}
	return false
}

// size returns rung r's picture size: its own, or its height at the
// source's aspect ratio, even (like ffmpeg's scale=-2:h: 426x240 for 16:9).
func (j *job) size(r *transcoderv1.Rung) (w, h int) {
	h = int(r.GetHeight()) &^ 1
	w = int(r.GetWidth())
	if w == 0 {
		w = j.width * h / j.height
	}
	return (w + 1) &^ 1, h
}

// args returns ffmpeg's command line: the source on pipe:0 and rendition i
// on pipe:(3+i).
func (j *job) args(p Profile) []string {
	a := []string{"-hide_banner", "-nostdin", "-nostats", "-loglevel", "warning"}
	a = append(a, p.globalArgs()...)
	// Probe little: the first units carry everything ffmpeg needs (an IDR
	// with SPS/PPS, an ADTS header), and probing delays the first output.
	// (Not -fflags nobuffer: it throws the probed packets away, and with
	// them the first GOP.)
	a = append(a, "-probesize", "65536", "-analyzeduration", "300000", "-fpsprobesize", "0",
		"-copyts", "-f", "mpegts", "-i", "pipe:0")
	if fc := j.filterGraph(p); fc != "" {
		a = append(a, "-filter_complex", fc)
	}
	gop := defaultGOP
	if g := j.start.GetOptions().GetMaxGopFrames(); g > 0 {
		gop = int(g)
	}
	v := 0
	for i, r := range j.start.GetLadder() {
		if r.GetHeight() > 0 {
			a = append(a, "-map", fmt.Sprintf("[v%d]", v))
			a = append(a, p.encoderArgs(int(r.GetVideoBitrate()), gop)...)
			v++
		}
		if j.audio >= 0 {
			a = append(a, "-map", "0:a:0")
			a = append(a, j.audioArgs(r)...)
		}
		a = append(a, "-f", "mpegts", "-mpegts_copyts", "1", "-muxdelay", "0", "-muxpreload", "0",
			"-flush_packets", "1", "-pes_payload_size", "0", "pipe:"+strconv.Itoa(3+i))
	}
	return a
}

// filterGraph decodes once, uploads once and scales once per video rung.
func (j *job) filterGraph(p Profile) string {
	var sizes [][2]int
	for _, r := range j.start.GetLadder() {
		if r.GetHeight() > 0 {
			w, h := j.size(r)
			sizes = append(sizes, [2]int{w, h})
		}
	}
	if len(sizes) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("[0:v:0]" + p.upload())
	if len(sizes) == 1 {
		fmt.Fprintf(&b, ",%s[v0]", p.scale(sizes[0][0], sizes[0][1]))
		return b.String()
	}
	fmt.Fprintf(&b, ",split=%d", len(sizes))
	for i := range sizes {
		fmt.Fprintf(&b, "[s%d]", i)
	}
	for i, s := range sizes {
		fmt.Fprintf(&b, ";[s%d]%s[v%d]", i, p.scale(s[0], s[1]), i)
	}
	return b.String()
}

// audioArgs copies the source audio when allowed and already right, and
// encodes it otherwise (Opus always at 48 kHz).
func (j *job) audioArgs(r *transcoderv1.Rung) []string {
	want := r.GetAudioCodec()
	if want == "" {
		want = codecAAC
	}
	src := j.start.GetTracks()[j.audio]
	if j.start.GetOptions().GetCopyAudio() && src.GetCodec() == want {
		return []string{"-c:a", "copy"}
	}
	bitrate := int(r.GetAudioBitrate())
	if want == codecOpus {
		if bitrate == 0 {
			bitrate = 64_000
		}
		frame := r.GetAudioFrameMs()
		if frame == 0 {
			frame = defaultOpusFrameMS
		}
		return []string{"-c:a", "libopus", "-b:a", strconv.Itoa(bitrate), "-ar", "48000",
			"-frame_duration", strconv.Itoa(int(frame)), "-application", "audio"}
	}
	if bitrate == 0 {
		bitrate = 128_000
	}
	return []string{"-c:a", "aac", "-b:a", strconv.Itoa(bitrate)}
}
