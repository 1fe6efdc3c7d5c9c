package ffmpeg

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/opus"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"

	"github.com/colony-live/colony/core/codec"
	transcoderv1 "github.com/colony-live/colony/plugins/transcoder/v1"
)

// emitFunc hands one response to the session; it fails once the session is over.
type emitFunc func(*transcoderv1.TranscodeResponse) error

// output turns one rendition's MPEG-TS (from ffmpeg) into responses: the
// rendition's tracks once the first video keyframe shows the SPS, then its
// units with the source's timestamps.
type output struct {
	rendition uint32
	clock     *clock
	emit      emitFunc

	tracks   []*transcoderv1.Track // rendition tracks, in TS track order
	video    int                   // index in tracks, -1 if none
	sent     bool                  // tracks sent
	sps, pps []byte
	ref      int64 // last unwrapped timestamp, for the 33-bit wrap
}

// errRendition marks a rendition stream ffmpeg wrote that cannot be used.
var errRendition = errors.New("unusable rendition output")

// outputBuffer is the read buffer on a rendition's pipe: the demuxer reads
// seven 188-byte packets (1,316 bytes) at a time, which unbuffered was a
// system call per seven packets (a 40 KB keyframe: 35 reads, against 6
// with the buffer); buffered, one read takes what ffmpeg has written, and
// returns as soon as anything is there.
const outputBuffer = 64 << 10

// read reads r until EOF.
func (o *output) read(r io.Reader) error {
	o.ref, o.video = tsBase, -1
	rd := &mpegts.Reader{R: bufio.NewReaderSize(r, outputBuffer)}
	if err := rd.Initialize(); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil // ffmpeg ended before writing this rendition
		}
		return fmt.Errorf("%w %d: %w", errRendition, o.rendition, err)
	}
	for _, t := range rd.Tracks() {
		idx := uint32(len(o.tracks))
		switch c := t.Codec.(type) {
		case *mpegts.CodecH264:
			o.video = int(idx)
			o.tracks = append(o.tracks, &transcoderv1.Track{Codec: codecH264, ClockRate: tsClock})
			rd.OnDataH264(t, func(pts, dts int64, au [][]byte) error { return o.onH264(idx, pts, dts, au) })
		case *mpegts.CodecMPEG4Audio:
			conf, err := c.Config.Marshal()
			if err != nil {
				return fmt.Errorf("%w %d: AAC config: %w", errRendition, o.rendition, err)
			}
			sr := c.Config.SampleRate
			o.tracks = append(o.tracks, &transcoderv1.Track{Codec: codecAAC, ClockRate: uint32(sr), Config: conf,
				SampleRate: uint32(sr), Channels: uint32(aacChannels(c))})
			rd.OnDataMPEG4Audio(t, func(pts int64, aus [][]byte) error { return o.onAAC(idx, sr, pts, aus) })
		case *mpegts.CodecOpus:
			o.tracks = append(o.tracks, &transcoderv1.Track{Codec: codecOpus, ClockRate: 48000, SampleRate: 48000,
				Channels: uint32(opusChannels(c))})
			rd.OnDataOpus(t, func(pts int64, pkts [][]byte) error { return o.onOpus(idx, pts, pkts) })
		default:
			return fmt.Errorf("%w %d: unexpected codec %T", errRendition, o.rendition, t.Codec)
		}
	}
	if o.video < 0 {
		if err := o.sendTracks(); err != nil {
			return err
		}
	}
	for {
		if err := rd.Read(); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil
			}
			return err
		}
	}
}

func (o *output) sendTracks() error {
	o.sent = true
	return o.emit(&transcoderv1.TranscodeResponse{Msg: &transcoderv1.TranscodeResponse_Tracks{
		Tracks: &transcoderv1.RenditionTracks{Rendition: o.rendition, Tracks: o.tracks}}})
}

func (o *output) unit(track uint32, pts, dts time.Duration, key bool, data []byte) error {
	return o.emit(&transcoderv1.TranscodeResponse{Msg: &transcoderv1.TranscodeResponse_Unit{
		Unit: &transcoderv1.RenditionUnit{Rendition: o.rendition, Unit: &transcoderv1.Unit{
			Track: track, Pts: int64(pts), Dts: int64(dts), Key: key, Data: data}}}})
}

// ts maps a raw 33-bit TS timestamp to the source's timeline.
func (o *output) ts(raw int64) time.Duration {
	v := unwrap(raw, o.ref)
	o.ref = v
	return o.clock.out(v)
}

func (o *output) onH264(idx uint32, pts, dts int64, au [][]byte) error {
	key := false
	kept := au[:0:0]
	for _, n := range au {
		switch codec.NALUType(n) {
		case codec.NALUAUD:
			continue
		case codec.NALUSPS:
			if !bytes.Equal(o.sps, n) {
				o.sps = append([]byte(nil), n...)
			}
		case codec.NALUPPS:
			if !bytes.Equal(o.pps, n) {
				o.pps = append([]byte(nil), n...)
			}
		case codec.NALUIDR:
			key = true
		}
		kept = append(kept, n)
	}
	if !o.sent {
		if !key || o.sps == nil || o.pps == nil {
			return nil // wait for a decodable start
		}
		w, h, err := codec.SPSSize(o.sps)
		if err != nil {
			return fmt.Errorf("%w %d: %w", errRendition, o.rendition, err)
		}
		t := o.tracks[idx]
		t.Sps, t.Pps, t.Width, t.Height = o.sps, o.pps, uint32(w), uint32(h)
		if err := o.sendTracks(); err != nil {
			return err
		}
	}
	if key && !hasSPS(kept) {
		kept = append([][]byte{o.sps, o.pps}, kept...)
	}
	d := o.ts(dts)
	p := d + fromTicks(pts-dts)
	return o.unit(idx, p, d, key, codec.JoinAVCC(kept))
}

func (o *output) onAAC(idx uint32, sampleRate int, pts int64, aus [][]byte) error {
	if !o.sent {
		return nil
	}
	base := o.ts(pts)
	for i, au := range aus {
		t := base + time.Duration(i)*1024*time.Second/time.Duration(sampleRate)
		if err := o.unit(idx, t, t, true, au); err != nil {
			return err
		}
	}
	return nil
}

func (o *output) onOpus(idx uint32, pts int64, pkts [][]byte) error {
	if !o.sent {
		return nil
	}
	t := o.ts(pts)
	for _, p := range pkts {
		if err := o.unit(idx, t, t, true, p); err != nil {
			return err
		}
		t += time.Duration(opus.PacketDuration2(p)) * time.Second / 48000
	}
	return nil
}

func aacChannels(c *mpegts.CodecMPEG4Audio) int {
	switch ch := c.Config.ChannelConfig; {
	case ch >= 1 && ch <= 6:
		return int(ch)
	case ch == 7:
		return 8
	}
	return 2
}

// opusChannels reads the channel count of the TS opus_audio_descriptor
// (ETSI TS 102 366 annex, table 4-3).
func opusChannels(c *mpegts.CodecOpus) int {
	if d := c.Desc; d != nil {
		switch code := int(d.ChannelConfigCode); {
		case code == 0 || code == 0x80:
			return 2
		case code <= 8:
			return code
		case code == 0x81 && d.ExplicitChannelCount > 0:
			return d.ExplicitChannelCount
		case code >= 0x82 && code <= 0x88:
			return code - 0x81
		}
	}
	if c.ChannelCount > 0 { //nolint:staticcheck // older readers fill only this
		return c.ChannelCount //nolint:staticcheck
	}
	return 2
}
