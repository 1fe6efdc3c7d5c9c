package client

import (
	"errors"
	"fmt"
	"io"

	"github.com/pion/webrtc/v4/pkg/media/h264reader"
)

// maxAUBytes bounds one access unit read from a file.
const maxAUBytes = 8 << 20

// errAUTooLarge: an access unit of the source is over maxAUBytes.
var errAUTooLarge = errors.New("H.264 access unit too large")

// auReader cuts an Annex-B H.264 stream into access units (H.264 7.4.1.2.3):
// an access unit ends before an access unit delimiter, before SPS, PPS or
// SEI that follow a picture, and before the first slice of the next
// picture (first_mb_in_slice 0). Access unit delimiters are dropped.
type auReader struct {
	r       *h264reader.H264Reader
	pending []byte // a NAL unit read that starts the next access unit
}

func newAUReader(r io.Reader) (*auReader, error) {
	hr, err := h264reader.NewReaderWithOptions(r, h264reader.WithIncludeSEI(true))
	if err != nil {
		return nil, err
	}
	return &auReader{r: hr}, nil
}

// next returns the next access unit as NAL units (without start codes);
// io.EOF at the end.
func (a *auReader) next() ([][]byte, error) {
	var au [][]byte
	size, vcl := 0, false
	if a.pending != nil {
		au, size, vcl = append(au, a.pending), len(a.pending), isVCL(a.pending)
		a.pending = nil
	}
	for {
		nal, err := a.r.NextNAL()
		if errors.Is(err, io.EOF) || (err == nil && nal == nil) {
			if len(au) == 0 {
				return nil, io.EOF
			}
			return au, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read H.264: %w", err)
		}
		n := nal.Data
		if len(n) == 0 {
			continue
		}
		if startsAU(n, vcl) && len(au) > 0 {
			if n[0]&0x1f != naluAUD {
				a.pending = n
			}
			return au, nil
		}
		if n[0]&0x1f == naluAUD {
			continue
		}
		if size += len(n); size > maxAUBytes {
			return nil, errAUTooLarge
		}
		au = append(au, n)
		vcl = vcl || isVCL(n)
	}
}

// H.264 NAL unit types the client looks at.
const (
	naluNonIDR = 1
	naluIDR    = 5
	naluSEI    = 6
	naluSPS    = 7
	naluPPS    = 8
	naluAUD    = 9
)

func isVCL(n []byte) bool {
	t := n[0] & 0x1f
	return t >= naluNonIDR && t <= naluIDR
}

// startsAU reports whether NAL unit n begins a new access unit after one
// that holds a picture (afterVCL) or not.
func startsAU(n []byte, afterVCL bool) bool {
	switch t := n[0] & 0x1f; {
	case t == naluAUD:
		return true
	case !afterVCL:
		return false
	case t == naluSEI || t == naluSPS || t == naluPPS || (t >= 14 && t <= 18):
		return true
	case t >= naluNonIDR && t <= naluIDR:
		// first_mb_in_slice is ue(v): 0 is coded as a single 1 bit.
		return len(n) > 1 && n[1]&0x80 != 0
	}
	return false
}

// annexB joins NAL units with 4-byte start codes.
func annexB(dst []byte, nalus [][]byte) []byte {
	for _, n := range nalus {
		dst = append(append(dst, 0, 0, 0, 1), n...)
	}
	return dst
}

// hasIDR reports whether an access unit holds an IDR picture.
func hasIDR(nalus [][]byte) bool {
	for _, n := range nalus {
		if len(n) > 0 && n[0]&0x1f == naluIDR {
			return true
		}
	}
	return false
}
