package main

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"
)

// errNoVideo reports an init segment without an H.264 track.
var errNoVideo = errors.New("no H.264 track")

// mediaFrame is a video access unit found in a segment or part.
type mediaFrame struct {
	pts  time.Duration
	info auInfo
}

// fmp4Video locates the H.264 track of an fMP4 rendition.
type fmp4Video struct {
	trackID   int
	timeScale uint32
}

// parseInit finds the H.264 track of an fMP4 init segment.
func parseInit(b []byte) (fmp4Video, error) {
	var in fmp4.Init
	if err := in.Unmarshal(bytes.NewReader(b)); err != nil {
		return fmp4Video{}, fmt.Errorf("init segment: %w", err)
	}
	for _, t := range in.Tracks {
		if _, ok := t.Codec.(*codecs.H264); ok && t.TimeScale > 0 {
			return fmp4Video{trackID: t.ID, timeScale: t.TimeScale}, nil
		}
	}
	return fmp4Video{}, errNoVideo
}

// frames appends the video access units of an fMP4 segment or part.
func (v fmp4Video) frames(b []byte, out []mediaFrame) ([]mediaFrame, error) {
	var parts fmp4.Parts
	if err := parts.Unmarshal(b); err != nil {
		return out, fmt.Errorf("fmp4 media: %w", err)
	}
	ts := time.Duration(v.timeScale)
	for _, p := range parts {
		for _, t := range p.Tracks {
			if t.ID != v.trackID {
				continue
			}
			dts := int64(t.BaseTime)
			for _, s := range t.Samples {
				pts := dts + int64(s.PTSOffset)
				info := inspectAVCC(s.Payload)
				info.key = info.key || !s.IsNonSyncSample
				out = append(out, mediaFrame{
					pts:  time.Duration(pts/int64(ts))*time.Second + time.Duration(pts%int64(ts))*time.Second/ts,
					info: info,
				})
				dts += int64(s.Duration)
			}
		}
	}
	return out, nil
}

// MPEG-TS constants (ISO/IEC 13818-1).
const (
	tsPacketSize    = 188
	tsStreamH264    = 0x1b
	tsPIDPAT        = 0
	ptsClock        = 90000
	maxPESBytes     = 16 << 20
	tsPayloadUnit   = 0x40
	tsAdaptation    = 0x20
	tsPayloadExists = 0x10
)

// tsFrames appends the H.264 access units (one per PES packet) of an
// MPEG-TS segment that starts with its PAT and PMT, as HLS segments do.
func tsFrames(b []byte, out []mediaFrame) ([]mediaFrame, error) {
	pmtPID, videoPID := -1, -1
	var pes []byte
	inPES := false
	var pts time.Duration
	flush := func() {
		if inPES && len(pes) > 0 {
			out = append(out, mediaFrame{pts: pts, info: inspectAnnexB(pes)})
		}
		pes = pes[:0]
		inPES = false
	}
	for len(b) >= tsPacketSize {
		p := b[:tsPacketSize]
		b = b[tsPacketSize:]
		if p[0] != 0x47 {
			return out, fmt.Errorf("mpegts: lost sync")
		}
		pusi := p[1]&tsPayloadUnit != 0
		pid := int(p[1]&0x1f)<<8 | int(p[2])
		payload := p[4:]
		if p[3]&tsAdaptation != 0 {
			n := int(p[4]) + 1
			if n > len(payload) {
				continue
			}
			payload = payload[n:]
		}
		if p[3]&tsPayloadExists == 0 {
			continue
		}
		switch {
		case pid == tsPIDPAT && pusi && pmtPID < 0:
			pmtPID = parsePAT(payload)
		case pid == pmtPID && pusi && videoPID < 0:
			videoPID = parsePMT(payload)
		case pid == videoPID:
			if pusi {
				flush()
				data, t, ok := parsePESHeader(payload)
				if !ok {
					continue
				}
				pts, inPES = t, true
				payload = data
			}
			if inPES && len(pes)+len(payload) <= maxPESBytes {
				pes = append(pes, payload...)
			}
		}
	}
	flush()
	if videoPID < 0 {
		return out, fmt.Errorf("mpegts: %w", errNoVideo)
	}
	return out, nil
}

// psiSection returns the section that a PSI payload's pointer field points
// to, cut to its section_length, without the CRC.
func psiSection(payload []byte) []byte {
	if len(payload) < 1 || int(payload[0])+1 > len(payload) {
		return nil
	}
	s := payload[1+int(payload[0]):]
	if len(s) < 3 {
		return nil
	}
	n := int(s[1]&0x0f)<<8 | int(s[2])
	if n < 9 || 3+n > len(s) {
		return nil
	}
	return s[:3+n-4]
}

// parsePAT returns the PMT PID of the first program, or -1.
func parsePAT(payload []byte) int {
	s := psiSection(payload)
	if len(s) < 8 || s[0] != 0 {
		return -1
	}
	for e := s[8:]; len(e) >= 4; e = e[4:] {
		if prog := int(e[0])<<8 | int(e[1]); prog != 0 {
			return int(e[2]&0x1f)<<8 | int(e[3])
		}
	}
	return -1
}

// parsePMT returns the PID of the first H.264 stream, or -1.
func parsePMT(payload []byte) int {
	s := psiSection(payload)
	if len(s) < 12 || s[0] != 2 {
		return -1
	}
	infoLen := int(s[10]&0x0f)<<8 | int(s[11])
	if 12+infoLen > len(s) {
		return -1
	}
	for e := s[12+infoLen:]; len(e) >= 5; {
		typ, pid := e[0], int(e[1]&0x1f)<<8|int(e[2])
		esLen := int(e[3]&0x0f)<<8 | int(e[4])
		if typ == tsStreamH264 {
			return pid
		}
		if 5+esLen > len(e) {
			break
		}
		e = e[5+esLen:]
	}
	return -1
}

// parsePESHeader returns the data after a PES header and its PTS.
func parsePESHeader(p []byte) (data []byte, pts time.Duration, ok bool) {
	if len(p) < 9 || p[0] != 0 || p[1] != 0 || p[2] != 1 {
		return nil, 0, false
	}
	hlen := int(p[8])
	if 9+hlen > len(p) {
		return nil, 0, false
	}
	if p[7]&0x80 != 0 && hlen >= 5 {
		t := int64(p[9]>>1&0x07)<<30 | int64(p[10])<<22 | int64(p[11]>>1)<<15 |
			int64(p[12])<<7 | int64(p[13]>>1)
		pts = time.Duration(t) * time.Second / ptsClock
	}
	return p[9+hlen:], pts, true
}
