package main

import "encoding/binary"

// H.264 NAL unit types the harness cares about.
const (
	naluTypeIDR = 5
	naluTypeSPS = 7
	naluTypePPS = 8
	naluTypeAUD = 9
)

// auInfo is what a viewer learns from one received video access unit.
type auInfo struct {
	key     bool  // holds an IDR slice
	stamp   int64 // send time from the harness's SEI, ns since the epoch
	stamped bool
}

// inspect records what a NAL unit says about its access unit.
func (a *auInfo) inspect(nalu []byte) {
	if len(nalu) == 0 {
		return
	}
	switch nalu[0] & 0x1f {
	case naluTypeIDR:
		a.key = true
	case naluTypeSEI:
		if !a.stamped {
			a.stamp, a.stamped = parseStampSEI(nalu)
		}
	}
}

// inspectAVCC walks an access unit of 4-byte length-prefixed NAL units.
func inspectAVCC(au []byte) auInfo {
	var a auInfo
	for len(au) >= 4 {
		n := binary.BigEndian.Uint32(au)
		au = au[4:]
		if uint64(n) > uint64(len(au)) {
			break
		}
		a.inspect(au[:n])
		au = au[n:]
	}
	return a
}

// inspectNALUs walks an access unit given as separate NAL units.
func inspectNALUs(au [][]byte) auInfo {
	var a auInfo
	for _, n := range au {
		a.inspect(n)
	}
	return a
}

// inspectAnnexB walks an access unit of start-code-delimited NAL units.
func inspectAnnexB(au []byte) auInfo {
	var a auInfo
	for _, n := range splitAnnexB(au) {
		a.inspect(n)
	}
	return a
}

// splitAnnexB returns the NAL units between 00 00 01 start codes (a 4-byte
// 00 00 00 01 start code leaves no trailing zero on the previous unit).
func splitAnnexB(b []byte) [][]byte {
	var out [][]byte
	start := -1
	zeros := 0
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c == 1 && zeros >= 2 {
			if start >= 0 {
				end := i - 2
				if zeros >= 3 {
					end = i - 3
				}
				out = append(out, b[start:end])
			}
			start = i + 1
			zeros = 0
			continue
		}
		if c == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	if start >= 0 && start <= len(b) {
		out = append(out, b[start:])
	}
	return out
}

// stampAVCC returns a copy of the AVCC access unit au with a stamp SEI
// carrying ns inserted before its first slice (after any AUD, SPS, PPS or
// other SEI).
func stampAVCC(au []byte, ns int64) []byte {
	sei := stampSEI(ns)
	out := make([]byte, 0, len(au)+4+len(sei))
	inserted := false
	for rest := au; len(rest) >= 4; {
		n := binary.BigEndian.Uint32(rest)
		if uint64(n) > uint64(len(rest)-4) {
			break
		}
		nalu := rest[4 : 4+n]
		if !inserted && len(nalu) > 0 {
			if t := nalu[0] & 0x1f; t >= 1 && t <= 5 {
				out = binary.BigEndian.AppendUint32(out, uint32(len(sei)))
				out = append(out, sei...)
				inserted = true
			}
		}
		out = append(out, rest[:4+n]...)
		rest = rest[4+n:]
	}
	if !inserted {
		out = binary.BigEndian.AppendUint32(out, uint32(len(sei)))
		out = append(out, sei...)
	}
	return out
}
