package client

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func readAUs(t *testing.T, r io.Reader) [][][]byte {
	t.Helper()
	ar, err := newAUReader(r)
	if err != nil {
		t.Fatal(err)
	}
	var aus [][][]byte
	for {
		au, err := ar.next()
		if errors.Is(err, io.EOF) {
			return aus
		}
		if err != nil {
			t.Fatal(err)
		}
		aus = append(aus, au)
	}
}

func TestAUReaderSplitsPictures(t *testing.T) {
	for _, aud := range []bool{false, true} {
		aus := readAUs(t, open(t, h264File(t, 2, aud)))
		if len(aus) != 60 {
			t.Fatalf("aud=%v: %d access units, want 60", aud, len(aus))
		}
		for i, au := range aus {
			slices := 0
			for _, n := range au {
				switch n[0] & 0x1f {
				case naluAUD:
					t.Fatalf("aud=%v: access unit %d keeps its delimiter", aud, i)
				case naluNonIDR, naluIDR:
					slices++
				}
			}
			if slices != 2 { // -x264-params slices=2
				t.Fatalf("aud=%v: access unit %d has %d slices, want 2", aud, i, slices)
			}
			if hasIDR(au) != (i%30 == 0) {
				t.Fatalf("aud=%v: access unit %d: IDR %v", aud, i, hasIDR(au))
			}
		}
		first := au0Types(aus[0])
		if !bytes.HasPrefix(first, []byte{naluSPS, naluPPS}) {
			t.Fatalf("aud=%v: first access unit NAL types %v, want SPS, PPS first", aud, first)
		}
	}
}

func au0Types(au [][]byte) []byte {
	var ts []byte
	for _, n := range au {
		ts = append(ts, n[0]&0x1f)
	}
	return ts
}

func TestStartsAU(t *testing.T) {
	for _, c := range []struct {
		name     string
		nal      []byte
		afterVCL bool
		want     bool
	}{
		{"delimiter", []byte{0x09, 0xf0}, false, true},
		{"SPS before a picture", []byte{0x67, 0x42}, false, false},
		{"SPS after a picture", []byte{0x67, 0x42}, true, true},
		{"SEI after a picture", []byte{0x06, 0x05}, true, true},
		{"first slice of the next picture", []byte{0x41, 0x9a}, true, true},
		{"second slice of a picture", []byte{0x41, 0x40}, true, false},
		{"first slice of the first picture", []byte{0x65, 0x88}, false, false},
		{"filler after a picture", []byte{0x0c, 0xff}, true, false},
	} {
		if got := startsAU(c.nal, c.afterVCL); got != c.want {
			t.Errorf("%s: startsAU = %v, want %v", c.name, got, c.want)
		}
	}
}

func FuzzAUReader(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 0x09, 0xf0, 0, 0, 1, 0x67, 0x42, 0, 0, 1, 0x68, 0xce, 0, 0, 1, 0x65, 0x88, 0x84})
	f.Add([]byte{0, 0, 1, 0x41, 0x9a, 0, 0, 1, 0x41, 0x40, 0, 0, 1, 0x41, 0x9a, 0x00})
	f.Add([]byte{0, 0, 1})
	f.Add([]byte("not h264"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ar, err := newAUReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		total := 0
		for range 10000 {
			au, err := ar.next()
			if err != nil {
				return
			}
			if len(au) == 0 {
				t.Fatal("empty access unit")
			}
			for _, n := range au {
				if len(n) == 0 || n[0]&0x1f == naluAUD {
					t.Fatalf("bad NAL unit %x in an access unit", n)
				}
				total += len(n)
			}
			if total > len(b) {
				t.Fatalf("read %d bytes of NAL units from %d bytes", total, len(b))
			}
		}
		t.Fatal("no end")
	})
}
