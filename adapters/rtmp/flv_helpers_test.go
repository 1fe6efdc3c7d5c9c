package rtmp

import (
	"encoding/binary"

	"github.com/colony-live/colony/core/codec"
)

// Parameter sets of a 320x240 x264 baseline stream.
var (
	testSPS = []byte{0x67, 0x42, 0xc0, 0x0d, 0xd9, 0x01, 0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00,
		0x10, 0x00, 0x00, 0x03, 0x03, 0xc0, 0xf1, 0x42, 0xa4, 0x80}
	testPPS = []byte{0x68, 0xcb, 0x83, 0xcb, 0x20}
	// testASC is AAC-LC, 44.1 kHz, stereo.
	testASC = []byte{0x12, 0x10}
	testIDR = []byte{0x65, 0x88, 0x84, 0x00, 0x33}
	testP   = []byte{0x41, 0x9a, 0x02, 0x04}
)

func avcSeqHeader() []byte {
	rec, err := codec.BuildAVCDecoderConfig(testSPS, testPPS)
	if err != nil {
		panic(err)
	}
	return append([]byte{0x17, 0x00, 0, 0, 0}, rec...)
}

// avcFrame builds an AVC NALU video body.
func avcFrame(frameType byte, cts int32, nalus ...[]byte) []byte {
	b := []byte{frameType<<4 | 7, 1, byte(cts >> 16), byte(cts >> 8), byte(cts)}
	for _, n := range nalus {
		b = binary.BigEndian.AppendUint32(b, uint32(len(n)))
		b = append(b, n...)
	}
	return b
}

func aacSeqHeader(asc []byte) []byte { return append([]byte{0xaf, 0x00}, asc...) }

func aacFrame(data []byte) []byte { return append([]byte{0xaf, 0x01}, data...) }
