package ffmpeg

import (
	"bufio"
	"fmt"
	"io"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"

	"github.com/colony-live/colony/core/codec"
	transcoderv1 "github.com/colony-live/colony/plugins/transcoder/v1"
)

// input writes source units to ffmpeg's stdin as MPEG-TS.
type input struct {
	bw     *bufio.Writer
	w      *mpegts.Writer
	tracks []*mpegts.Track // by source track index; nil when not fed
	codecs []string
	sps    []byte
	pps    []byte
	clock  *clock
	nalus  [][]byte
	// started is set at the first video keyframe (or the first unit when
	// there is no video): ffmpeg must start decoding at a keyframe.
	started bool
	video   int
}

func newInput(w io.Writer, j *job, clk *clock) (*input, error) {
	in := &input{bw: bufio.NewWriterSize(w, 64<<10), clock: clk, video: j.video}
	src := j.start.GetTracks()
	in.tracks = make([]*mpegts.Track, len(src))
	in.codecs = make([]string, len(src))
	var ts []*mpegts.Track
	for i, t := range src {
		feed := (i == j.video && j.hasVideo()) || i == j.audio
		if !feed {
			continue
		}
		var c mpegts.Codec
		switch t.GetCodec() {
		case codecH264:
			c = &mpegts.CodecH264{}
			in.sps, in.pps = t.GetSps(), t.GetPps()
		case codecAAC:
			var conf mpeg4audio.AudioSpecificConfig
			if err := conf.Unmarshal(t.GetConfig()); err != nil {
				return nil, fmt.Errorf("%w: AAC config: %w", ErrInvalidStart, err)
			}
			c = &mpegts.CodecMPEG4Audio{Config: conf}
		case codecOpus:
			ch := int(t.GetChannels())
			if ch <= 0 {
				ch = 2
			}
			c = &mpegts.CodecOpus{ChannelCount: ch} //nolint:staticcheck // the writer derives the descriptor from it
		}
		mt := &mpegts.Track{Codec: c}
		in.tracks[i], in.codecs[i] = mt, t.GetCodec()
		ts = append(ts, mt)
	}
	if !j.hasVideo() {
		in.video = -1
	}
	in.w = &mpegts.Writer{W: in.bw, Tracks: ts}
	if err := in.w.Initialize(); err != nil {
		return nil, fmt.Errorf("mpeg-ts writer: %w", err)
	}
	return in, nil
}

// write writes one unit and flushes it to ffmpeg. Units of tracks that are
// not fed, and units before the first video keyframe, are skipped.
func (in *input) write(u *transcoderv1.Unit) error {
	i := int(u.GetTrack())
	if i < 0 || i >= len(in.tracks) || in.tracks[i] == nil {
		return nil
	}
	if !in.started {
		if in.video >= 0 && (i != in.video || !u.GetKey()) {
			return nil
		}
		in.started = true
	}
	pts := in.clock.in(time.Duration(u.GetPts()))
	var err error
	switch in.codecs[i] {
	case codecH264:
		in.nalus, err = codec.SplitAVCC(in.nalus, u.GetData())
		if err != nil {
			return fmt.Errorf("source unit: %w", err)
		}
		if len(in.nalus) == 0 {
			return nil
		}
		au := in.nalus
		if u.GetKey() && !hasSPS(au) {
			au = append([][]byte{in.sps, in.pps}, au...)
		}
		err = in.w.WriteH264(in.tracks[i], pts, in.clock.in(time.Duration(u.GetDts())), au)
	case codecAAC:
		err = in.w.WriteMPEG4Audio(in.tracks[i], pts, [][]byte{u.GetData()})
	case codecOpus:
		err = in.w.WriteOpus(in.tracks[i], pts, [][]byte{u.GetData()})
	}
	if err != nil {
		return err
	}
	return in.bw.Flush()
}

func hasSPS(au [][]byte) bool {
	for _, n := range au {
		if codec.NALUType(n) == codec.NALUSPS {
			return true
		}
	}
	return false
}
