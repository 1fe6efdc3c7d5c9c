// Package codec holds the pure bitstream helpers that several adapters need:
// H.264 decoder configuration records, AVCC framing and SPS dimensions, and
// the AAC AudioSpecificConfig. It does no I/O.
package codec

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
)

// ErrMalformed is returned (wrapped) for a bitstream that cannot be parsed.
var ErrMalformed = errors.New("malformed bitstream")

// H.264 NAL unit types used by Colony.
const (
	NALUNonIDR = 1
	NALUIDR    = 5
	NALUSEI    = 6
	NALUSPS    = 7
	NALUPPS    = 8
	NALUAUD    = 9
)

// maxNALUs bounds how many NAL units one access unit may carry.
const maxNALUs = 256

// ParseAVCDecoderConfig extracts the first SPS and PPS from an
// AVCDecoderConfigurationRecord (ISO/IEC 14496-15 5.2.4.1), the payload of
// an RTMP/FLV AVC sequence header.
func ParseAVCDecoderConfig(b []byte) (sps, pps []byte, err error) {
	if len(b) < 7 || b[0] != 1 {
		return nil, nil, fmt.Errorf("%w: AVC decoder configuration record too short or wrong version", ErrMalformed)
	}
	n := int(b[5] & 0x1f)
	p := 6
	for i := 0; i < n; i++ {
		if p+2 > len(b) {
			return nil, nil, fmt.Errorf("%w: truncated SPS length", ErrMalformed)
		}
		l := int(binary.BigEndian.Uint16(b[p:]))
		p += 2
		if p+l > len(b) || l == 0 {
			return nil, nil, fmt.Errorf("%w: truncated SPS", ErrMalformed)
		}
		if sps == nil {
			sps = append([]byte(nil), b[p:p+l]...)
		}
		p += l
	}
	if p >= len(b) {
		return nil, nil, fmt.Errorf("%w: missing PPS count", ErrMalformed)
	}
	n = int(b[p])
	p++
	for i := 0; i < n; i++ {
		if p+2 > len(b) {
			return nil, nil, fmt.Errorf("%w: truncated PPS length", ErrMalformed)
		}
		l := int(binary.BigEndian.Uint16(b[p:]))
		p += 2
		if p+l > len(b) || l == 0 {
			return nil, nil, fmt.Errorf("%w: truncated PPS", ErrMalformed)
		}
		if pps == nil {
			pps = append([]byte(nil), b[p:p+l]...)
		}
		p += l
	}
	if sps == nil || pps == nil {
		return nil, nil, fmt.Errorf("%w: record has no SPS or no PPS", ErrMalformed)
	}
	return sps, pps, nil
}

// BuildAVCDecoderConfig builds an AVCDecoderConfigurationRecord from one SPS and one PPS.
func BuildAVCDecoderConfig(sps, pps []byte) ([]byte, error) {
	if len(sps) < 4 || len(pps) < 1 || len(sps) > 0xffff || len(pps) > 0xffff {
		return nil, fmt.Errorf("%w: bad SPS or PPS size", ErrMalformed)
	}
	b := make([]byte, 0, 11+len(sps)+len(pps))
	b = append(b, 1, sps[1], sps[2], sps[3], 0xff, 0xe1)
	b = binary.BigEndian.AppendUint16(b, uint16(len(sps)))
	b = append(b, sps...)
	b = append(b, 1)
	b = binary.BigEndian.AppendUint16(b, uint16(len(pps)))
	b = append(b, pps...)
	return b, nil
}

// SplitAVCC returns the NAL units of an AVCC access unit (4-byte lengths),
// as sub-slices of b (no copy). dst is reused when it has capacity.
func SplitAVCC(dst [][]byte, b []byte) ([][]byte, error) {
	dst = dst[:0]
	for len(b) > 0 {
		if len(b) < 4 {
			return nil, fmt.Errorf("%w: truncated NAL unit length", ErrMalformed)
		}
		l := binary.BigEndian.Uint32(b)
		b = b[4:]
		if uint64(l) > uint64(len(b)) {
			return nil, fmt.Errorf("%w: NAL unit length %d exceeds the %d bytes left", ErrMalformed, l, len(b))
		}
		if l > 0 {
			if len(dst) == maxNALUs {
				return nil, fmt.Errorf("%w: more than %d NAL units", ErrMalformed, maxNALUs)
			}
			dst = append(dst, b[:l])
		}
		b = b[l:]
	}
	return dst, nil
}

// JoinAVCC writes NAL units as one AVCC access unit.
func JoinAVCC(nalus [][]byte) []byte {
	n := 0
	for _, u := range nalus {
		n += 4 + len(u)
	}
	b := make([]byte, 0, n)
	for _, u := range nalus {
		b = binary.BigEndian.AppendUint32(b, uint32(len(u)))
		b = append(b, u...)
	}
	return b
}

// NALUType returns the type of an H.264 NAL unit (0 for an empty one).
func NALUType(nalu []byte) int {
	if len(nalu) == 0 {
		return 0
	}
	return int(nalu[0] & 0x1f)
}

// ContainsIDR reports whether any of the NAL units is an IDR slice.
func ContainsIDR(nalus [][]byte) bool {
	for _, u := range nalus {
		if NALUType(u) == NALUIDR {
			return true
		}
	}
	return false
}

// SPSSize returns the picture size coded in an SPS.
func SPSSize(sps []byte) (width, height int, err error) {
	var s h264.SPS
	if err := s.Unmarshal(sps); err != nil {
		return 0, 0, fmt.Errorf("%w: SPS: %w", ErrMalformed, err)
	}
	return s.Width(), s.Height(), nil
}
