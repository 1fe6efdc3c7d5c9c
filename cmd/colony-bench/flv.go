package main

import "time"

// FLV tag bodies for H.264 and AAC (Adobe FLV spec, E.4.2 and E.4.3).

// flvAVCSequenceHeader returns a video tag body holding the
// AVCDecoderConfigurationRecord for sps and pps.
func flvAVCSequenceHeader(sps, pps []byte) []byte {
	b := []byte{0x17, 0, 0, 0, 0} // keyframe, AVC; sequence header; cts 0
	b = append(b, 1, sps[1], sps[2], sps[3], 0xff, 0xe1,
		byte(len(sps)>>8), byte(len(sps)))
	b = append(b, sps...)
	b = append(b, 1, byte(len(pps)>>8), byte(len(pps)))
	return append(b, pps...)
}

// flvAVCFrame returns a video tag body for an AVCC access unit whose
// presentation time is cts after its decoding time.
func flvAVCFrame(key bool, cts time.Duration, au []byte) []byte {
	head := byte(0x27) // inter frame, AVC
	if key {
		head = 0x17
	}
	c := int32(cts / time.Millisecond)
	b := make([]byte, 0, 5+len(au))
	b = append(b, head, 1, byte(c>>16), byte(c>>8), byte(c))
	return append(b, au...)
}

// flvAACSequenceHeader returns an audio tag body holding an
// AudioSpecificConfig.
func flvAACSequenceHeader(config []byte) []byte {
	return append([]byte{0xaf, 0}, config...)
}

// flvAACFrame returns an audio tag body for one raw AAC frame.
func flvAACFrame(frame []byte) []byte {
	b := make([]byte, 0, 2+len(frame))
	return append(append(b, 0xaf, 1), frame...)
}
