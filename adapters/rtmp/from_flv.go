package rtmp

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	flvtag "github.com/yutopp/go-flv/tag"

	"github.com/colony-live/colony/core/codec"
	"github.com/colony-live/colony/core/media"
)

// Errors of the FLV mapping. A connection that sends such a tag is closed.
var (
	// ErrMalformedTag: an audio or video message that cannot be decoded.
	ErrMalformedTag = errors.New("malformed FLV tag")
	// ErrUnsupportedCodec: a codec other than H.264 video or AAC audio.
	ErrUnsupportedCodec = errors.New("unsupported codec")
)

// flvResult is what one RTMP audio or video message carries: a sequence
// header (Track set), a frame (Unit set) or nothing to forward (both nil).
type flvResult struct {
	Track *media.Track
	// Unit has its Track index left at 0: the caller assigns it once the
	// stream's tracks are known.
	Unit *media.Unit
}

// flvKeyFrame and flvInfoFrame are FLV video frame types.
const (
	flvKeyFrame  = 1
	flvInfoFrame = 5
	// flvExHeader marks an Enhanced RTMP video tag (HEVC, AV1, VP9 by FourCC).
	flvExHeader = 0x80
)

// videoFromFLV maps the body of an RTMP video message (an FLV VIDEODATA)
// whose timestamp is dts. Payload bytes are copied: b may be reused by the
// caller afterwards.
func videoFromFLV(dts time.Duration, b []byte) (flvResult, error) {
	if len(b) == 0 {
		return flvResult{}, fmt.Errorf("%w: empty video message", ErrMalformedTag)
	}
	if b[0]&flvExHeader != 0 {
		return flvResult{}, fmt.Errorf("%w: Enhanced RTMP video (HEVC/AV1/VP9); only H.264 is supported", ErrUnsupportedCodec)
	}
	if b[0]>>4 == flvInfoFrame {
		return flvResult{}, nil // video info/command frame: no picture
	}
	r := bytes.NewReader(b)
	var v flvtag.VideoData
	if err := flvtag.DecodeVideoData(r, &v); err != nil {
		return flvResult{}, fmt.Errorf("%w: video header: %w", ErrMalformedTag, err)
	}
	if v.CodecID != flvtag.CodecIDAVC {
		return flvResult{}, fmt.Errorf("%w: FLV video codec id %d; only H.264 (7) is supported", ErrUnsupportedCodec, v.CodecID)
	}
	data := b[len(b)-r.Len():]

	switch v.AVCPacketType {
	case flvtag.AVCPacketTypeSequenceHeader:
		t, err := h264Track(data)
		if err != nil {
			return flvResult{}, err
		}
		return flvResult{Track: &t}, nil

	case flvtag.AVCPacketTypeNALU:
		if len(data) == 0 {
			return flvResult{}, nil // some encoders send empty packets
		}
		nalus, err := codec.SplitAVCC(nil, data)
		if err != nil {
			return flvResult{}, fmt.Errorf("%w: AVC NALU packet: %w", ErrMalformedTag, err)
		}
		u := &media.Unit{
			DTS:  dts,
			PTS:  dts + time.Duration(v.CompositionTime)*time.Millisecond,
			Key:  v.FrameType == flvKeyFrame || codec.ContainsIDR(nalus),
			Data: bytes.Clone(data),
		}
		return flvResult{Unit: u}, nil

	case flvtag.AVCPacketTypeEOS:
		return flvResult{}, nil

	default:
		return flvResult{}, fmt.Errorf("%w: AVC packet type %d", ErrMalformedTag, v.AVCPacketType)
	}
}

// h264Track builds the H.264 track described by an AVCDecoderConfigurationRecord.
func h264Track(record []byte) (media.Track, error) {
	sps, pps, err := codec.ParseAVCDecoderConfig(record)
	if err != nil {
		return media.Track{}, fmt.Errorf("%w: AVC sequence header: %w", ErrMalformedTag, err)
	}
	t := media.Track{Codec: media.H264, ClockRate: 90000, SPS: sps, PPS: pps}
	// The size is informative (Track says "when known"): an SPS that the
	// parser does not understand still plays.
	if w, h, err := codec.SPSSize(sps); err == nil {
		t.Width, t.Height = w, h
	}
	return t, nil
}

// audioFromFLV maps the body of an RTMP audio message (an FLV AUDIODATA)
// whose timestamp is dts. Payload bytes are copied.
func audioFromFLV(dts time.Duration, b []byte) (flvResult, error) {
	if len(b) == 0 {
		return flvResult{}, fmt.Errorf("%w: empty audio message", ErrMalformedTag)
	}
	r := bytes.NewReader(b)
	var a flvtag.AudioData
	if err := flvtag.DecodeAudioData(r, &a); err != nil {
		return flvResult{}, fmt.Errorf("%w: audio header: %w", ErrMalformedTag, err)
	}
	if a.SoundFormat != flvtag.SoundFormatAAC {
		return flvResult{}, fmt.Errorf("%w: FLV sound format %d; only AAC (10) is supported", ErrUnsupportedCodec, a.SoundFormat)
	}
	data := b[len(b)-r.Len():]

	switch a.AACPacketType {
	case flvtag.AACPacketTypeSequenceHeader:
		c, err := codec.ParseAACConfig(data)
		if err != nil {
			return flvResult{}, fmt.Errorf("%w: AAC sequence header: %w", ErrMalformedTag, err)
		}
		t := media.Track{
			Codec:      media.AAC,
			ClockRate:  c.SampleRate,
			Config:     bytes.Clone(data),
			SampleRate: c.SampleRate,
			Channels:   c.Channels,
		}
		return flvResult{Track: &t}, nil

	case flvtag.AACPacketTypeRaw:
		if len(data) == 0 {
			return flvResult{}, nil
		}
		return flvResult{Unit: &media.Unit{DTS: dts, PTS: dts, Key: true, Data: bytes.Clone(data)}}, nil

	default:
		return flvResult{}, fmt.Errorf("%w: AAC packet type %d", ErrMalformedTag, a.AACPacketType)
	}
}

// ErrMessageTooLarge: an audio or video message larger than Config.MaxMessageSize.
var ErrMessageTooLarge = errors.New("message too large")

// readPayload reads a go-rtmp message payload (at most limit bytes) into
// buf, reusing its capacity, and returns the bytes read. go-rtmp's payload
// reader is only valid during its callback.
func readPayload(buf []byte, r io.Reader, limit int) ([]byte, error) {
	buf = buf[:0]
	for {
		if len(buf) > limit {
			return nil, fmt.Errorf("%w: more than %d bytes", ErrMessageTooLarge, limit)
		}
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, max(4096, cap(buf)))
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			if len(buf) > limit {
				return nil, fmt.Errorf("%w: %d bytes (limit %d)", ErrMessageTooLarge, len(buf), limit)
			}
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}
