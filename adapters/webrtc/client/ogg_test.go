package client

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

func TestOpusReaderReadsMultiPacketPages(t *testing.T) {
	r := newOpusReader(open(t, opusFile(t, 3)))
	packets, samples := 0, 0
	for {
		p, n, err := r.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(p) == 0 || n != 960 {
			t.Fatalf("packet %d: %d bytes, %d samples, want 20 ms packets", packets, len(p), n)
		}
		packets++
		samples += n
	}
	// 3 s, plus the encoder's pre-skip packet or two.
	if packets < 150 || packets > 153 {
		t.Fatalf("%d Opus packets (%d samples) in 3 s of audio", packets, samples)
	}
}

// oggPage builds one Ogg page holding segs as lacing values over body.
func oggPage(flags byte, serial uint32, lacing []byte, body []byte) []byte {
	h := make([]byte, 27)
	copy(h, "OggS")
	h[5] = flags
	binary.LittleEndian.PutUint32(h[14:], serial)
	h[26] = byte(len(lacing))
	return append(append(h, lacing...), body...)
}

func TestOggReaderLacing(t *testing.T) {
	big := bytes.Repeat([]byte{7}, 300) // 255 + 45: spans two lacing values
	var file []byte
	file = append(file, oggPage(2, 1, []byte{3, 2}, []byte("abcde"))...)
	file = append(file, oggPage(0, 9, []byte{4}, []byte("skip"))...) // another stream
	file = append(file, oggPage(0, 1, []byte{255}, big[:255])...)    // continues...
	file = append(file, oggPage(1, 1, []byte{45, 1}, append(big[255:], 'z'))...)
	r := newOggReader(bytes.NewReader(file))
	var got []string
	for {
		p, err := r.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(p))
	}
	want := []string{"abc", "de", string(big), "z"}
	if len(got) != len(want) {
		t.Fatalf("packets %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("packet %d = %q, want %q", i, got[i], want[i])
		}
	}
}

func TestOpusSamples(t *testing.T) {
	for _, c := range []struct {
		name string
		p    []byte
		want int
	}{
		{"empty", nil, 0},
		{"CELT 20 ms", []byte{0xfc}, 960},
		{"CELT 2.5 ms", []byte{0x80}, 120},
		{"SILK 60 ms", []byte{0x18}, 2880},
		{"hybrid 10 ms", []byte{0x60}, 480},
		{"two CELT 20 ms frames", []byte{0xfd}, 1920},
		{"code 3, 3 frames of 20 ms", []byte{0xff, 0x03}, 2880},
		{"code 3 without count", []byte{0xff}, 0},
		{"code 3, over 120 ms", []byte{0xff, 0x07}, 0},
	} {
		if got := opusSamples(c.p); got != c.want {
			t.Errorf("%s: %d samples, want %d", c.name, got, c.want)
		}
	}
}

func FuzzOggReader(f *testing.F) {
	f.Add(oggPage(2, 1, []byte{3, 2}, []byte("abcde")))
	f.Add(append(oggPage(0, 1, []byte{255}, bytes.Repeat([]byte{1}, 255)), oggPage(1, 1, []byte{1}, []byte{2})...))
	f.Add([]byte("OggS"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := newOpusReader(bytes.NewReader(b))
		total := 0
		for range 100000 {
			p, n, err := r.next()
			if err != nil {
				return
			}
			if n <= 0 || n > 5760 || len(p) == 0 {
				t.Fatalf("packet of %d bytes, %d samples", len(p), n)
			}
			if total += len(p); total > len(b) {
				t.Fatalf("%d packet bytes from %d input bytes", total, len(b))
			}
		}
		t.Fatal("no end")
	})
}
