package webrtc

import (
	"encoding/binary"
	"time"

	"github.com/colony-live/colony/core/codec"
)

// maxUnitNALUs keeps ingested access units within what codec.SplitAVCC
// accepts downstream (256 NAL units), parameter sets included.
const maxUnitNALUs = 250

// h264In turns the AVCC samples that pion's sample builder assembles (one
// per RTP timestamp) into access units. It keeps the latest SPS and PPS,
// holds parameter sets sent as samples of their own (some senders stamp
// them apart from the IDR) for the next picture, drops access unit
// delimiters, and puts SPS/PPS in band before every IDR.
type h264In struct {
	sps, pps []byte
	held     [][]byte
}

// unit returns the access unit for one sample; ok is false when the sample
// carries no picture (or cannot be parsed).
func (h *h264In) unit(avcc []byte) (data []byte, key, ok bool) {
	nalus, err := codec.SplitAVCC(nil, avcc)
	if err != nil {
		return nil, false, false
	}
	var out [][]byte
	var vcl, hasSPS, hasPPS bool
	for _, n := range nalus {
		switch t := codec.NALUType(n); {
		case t == codec.NALUSPS:
			h.sps, hasSPS = append([]byte(nil), n...), true
		case t == codec.NALUPPS:
			h.pps, hasPPS = append([]byte(nil), n...), true
		case t == codec.NALUAUD:
			continue
		case t == codec.NALUIDR:
			key, vcl = true, true
		case t >= codec.NALUNonIDR && t < codec.NALUIDR:
			vcl = true
		}
		out = append(out, n)
	}
	if !vcl {
		// Parameter sets or SEI alone: keep them for the next picture.
		h.held = append(h.held, out...)
		if len(h.held) > 16 {
			h.held = h.held[len(h.held)-16:]
		}
		return nil, false, false
	}
	if len(h.held) > 0 {
		for _, n := range h.held {
			switch codec.NALUType(n) {
			case codec.NALUSPS:
				hasSPS = true
			case codec.NALUPPS:
				hasPPS = true
			}
		}
		out = append(h.held, out...)
		h.held = nil
	}
	if len(out) > maxUnitNALUs {
		return nil, false, false
	}
	if key {
		var pre [][]byte
		if !hasSPS && h.sps != nil {
			pre = append(pre, h.sps)
		}
		if !hasPPS && h.pps != nil {
			pre = append(pre, h.pps)
		}
		out = append(pre, out...)
	}
	return codec.JoinAVCC(out), key, true
}

// vp8Key reports whether a VP8 frame is a keyframe and, for a keyframe,
// the picture size from its header (RFC 6386 9.1).
func vp8Key(frame []byte) (key bool, width, height int) {
	if len(frame) < 3 || frame[0]&0x01 != 0 {
		return false, 0, 0
	}
	if len(frame) >= 10 && frame[3] == 0x9d && frame[4] == 0x01 && frame[5] == 0x2a {
		width = int(binary.LittleEndian.Uint16(frame[6:]) & 0x3fff)
		height = int(binary.LittleEndian.Uint16(frame[8:]) & 0x3fff)
	}
	return true, width, height
}

// rtpClock extends 32-bit RTP timestamps and converts them to durations
// since the first one.
type rtpClock struct {
	rate    int64
	started bool
	last    uint32
	ext     int64
}

func (c *rtpClock) since(ts uint32) time.Duration {
	if !c.started {
		c.started, c.last = true, ts
		return 0
	}
	c.ext += int64(int32(ts - c.last))
	c.last = ts
	return time.Duration(c.ext/c.rate*int64(time.Second)) + time.Duration(c.ext%c.rate*int64(time.Second)/c.rate)
}
