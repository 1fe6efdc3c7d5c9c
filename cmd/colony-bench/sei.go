package main

import (
	"bytes"
	"encoding/binary"
)

// stampUUID identifies the harness's SEI (user data unregistered, payload
// type 5): the ASCII "ColonyBenchStamp". Its payload is this UUID followed by
// the wall-clock send time of the access unit, in nanoseconds since the Unix
// epoch, big-endian.
var stampUUID = [16]byte{'C', 'o', 'l', 'o', 'n', 'y', 'B', 'e', 'n', 'c', 'h', 'S', 't', 'a', 'm', 'p'}

const (
	naluTypeSEI      = 6
	seiUserDataUnreg = 5
	stampPayloadSize = 16 + 8
)

// stampSEI returns an H.264 SEI NAL unit (header included, emulation
// prevention applied) that carries the send time ns.
func stampSEI(ns int64) []byte {
	rbsp := make([]byte, 0, 2+stampPayloadSize+1)
	rbsp = append(rbsp, seiUserDataUnreg, stampPayloadSize)
	rbsp = append(rbsp, stampUUID[:]...)
	rbsp = binary.BigEndian.AppendUint64(rbsp, uint64(ns))
	rbsp = append(rbsp, 0x80) // rbsp_trailing_bits
	return append([]byte{naluTypeSEI}, addEmulationPrevention(rbsp)...)
}

// parseStampSEI returns the send time carried by an SEI NAL unit (header
// included) written by stampSEI, and whether there was one. Other SEI
// messages in the same NAL unit are skipped.
func parseStampSEI(nalu []byte) (int64, bool) {
	if len(nalu) < 2 || nalu[0]&0x1f != naluTypeSEI {
		return 0, false
	}
	// Cheap reject before allocating: the UUID must appear somewhere.
	if !bytes.Contains(nalu, stampUUID[:4]) {
		return 0, false
	}
	b := removeEmulationPrevention(nalu[1:])
	for len(b) > 0 && !(len(b) == 1 && b[0] == 0x80) {
		typ, n := seiNumber(b)
		if n == 0 {
			return 0, false
		}
		b = b[n:]
		size, n := seiNumber(b)
		if n == 0 || size > len(b)-n {
			return 0, false
		}
		payload := b[n : n+size]
		b = b[n+size:]
		if typ == seiUserDataUnreg && size >= stampPayloadSize && bytes.Equal(payload[:16], stampUUID[:]) {
			return int64(binary.BigEndian.Uint64(payload[16:24])), true
		}
	}
	return 0, false
}

// seiNumber reads an SEI payload type or size (a run of 0xFF bytes plus a
// last byte). n is 0 when b ends first.
func seiNumber(b []byte) (v, n int) {
	for n < len(b) {
		c := b[n]
		n++
		v += int(c)
		if c != 0xff {
			return v, n
		}
		if v > 1<<20 {
			return 0, 0
		}
	}
	return 0, 0
}

// addEmulationPrevention inserts 0x03 wherever two zero bytes are followed
// by a byte <= 3 (H.264 section 7.4.1).
func addEmulationPrevention(rbsp []byte) []byte {
	out := make([]byte, 0, len(rbsp)+len(rbsp)/2)
	zeros := 0
	for _, c := range rbsp {
		if zeros >= 2 && c <= 3 {
			out = append(out, 3)
			zeros = 0
		}
		out = append(out, c)
		if c == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	return out
}

// removeEmulationPrevention drops each 0x03 that follows two zero bytes.
func removeEmulationPrevention(b []byte) []byte {
	out := make([]byte, 0, len(b))
	zeros := 0
	for _, c := range b {
		if zeros >= 2 && c == 3 {
			zeros = 0
			continue
		}
		out = append(out, c)
		if c == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	return out
}
