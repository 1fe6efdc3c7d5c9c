package relay

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"reflect"
	"runtime"
	"testing"
	"time"

	"github.com/colony-live/colony/core/media"
)

func testTracks() []media.Track {
	return []media.Track{
		{Codec: media.H264, ClockRate: 90000, SPS: []byte{0x67, 0x42, 0xc0, 0x1f}, PPS: []byte{0x68, 0xce, 0x3c, 0x80}, Width: 1280, Height: 720},
		{Codec: media.AAC, ClockRate: 48000, Config: []byte{0x11, 0x90}, SampleRate: 48000, Channels: 2},
	}
}

func testUnits() []*media.Unit {
	ingest := time.Date(2025, 3, 4, 5, 6, 7, 8, time.UTC)
	return []*media.Unit{
		{Track: 0, PTS: 80 * time.Millisecond, DTS: 0, Key: true, Data: []byte{0, 0, 0, 2, 0x65, 0x88}, Ingest: ingest},
		{Track: 1, PTS: 21 * time.Millisecond, DTS: 21 * time.Millisecond, Key: true, Data: []byte{0x21, 0x10, 0x04}},
		{Track: 0, PTS: 40 * time.Millisecond, DTS: 40 * time.Millisecond, Data: []byte{0, 0, 0, 1, 0x41}, Ingest: ingest.Add(time.Millisecond)},
		{Track: 0, PTS: -3 * time.Millisecond, DTS: -7 * time.Millisecond, Data: bytes.Repeat([]byte{0xab}, 3*readChunk+17)},
		{Track: 1, PTS: 1<<62 + 5, DTS: -1 << 62, Key: true},
	}
}

func encodeAll(t testing.TB, tracks []media.Track, units []*media.Unit, end bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := NewEncoder(&buf)
	if _, err := enc.WriteHeader(tracks); err != nil {
		t.Fatalf("WriteHeader: %v", err)
	}
	for _, u := range units {
		if _, err := enc.WriteUnit(u); err != nil {
			t.Fatalf("WriteUnit: %v", err)
		}
		if _, err := enc.WritePing(); err != nil {
			t.Fatalf("WritePing: %v", err)
		}
	}
	if end {
		if _, err := enc.WriteEnd(); err != nil {
			t.Fatalf("WriteEnd: %v", err)
		}
	}
	return buf.Bytes()
}

func sameUnit(a, b *media.Unit) bool {
	return a.Track == b.Track && a.PTS == b.PTS && a.DTS == b.DTS && a.Key == b.Key &&
		bytes.Equal(a.Data, b.Data) && a.Ingest.Equal(b.Ingest) && a.Ingest.IsZero() == b.Ingest.IsZero()
}

func TestFrameRoundTrip(t *testing.T) {
	tests := []struct {
		name   string
		tracks []media.Track
		units  []*media.Unit
	}{
		{"h264+aac", testTracks(), testUnits()},
		{"any codec", []media.Track{{Codec: "MJPEG-experimental", ClockRate: 1}, {Codec: media.Opus, ClockRate: 48000, SampleRate: 48000, Channels: 2}},
			[]*media.Unit{{Track: 1, Data: []byte{1}}, {Track: 0, Key: true, Data: []byte{2, 3}}}},
		{"max tracks", func() []media.Track {
			tr := make([]media.Track, MaxTracks)
			for i := range tr {
				tr[i] = media.Track{Codec: media.VP8, ClockRate: 90000, Width: i}
			}
			return tr
		}(), []*media.Unit{{Track: MaxTracks - 1, Data: []byte{9}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dec := NewDecoder(bufio.NewReader(bytes.NewReader(encodeAll(t, tt.tracks, tt.units, true))))
			tracks, err := dec.ReadHeader()
			if err != nil {
				t.Fatalf("ReadHeader: %v", err)
			}
			if !reflect.DeepEqual(tracks, tt.tracks) {
				t.Fatalf("tracks = %+v, want %+v", tracks, tt.tracks)
			}
			var got []*media.Unit
			for {
				kind, u, err := dec.Next()
				if err != nil {
					t.Fatalf("Next after %d units: %v", len(got), err)
				}
				if kind == FrameEnd {
					break
				}
				if kind == FrameUnit {
					got = append(got, u)
				}
			}
			if len(got) != len(tt.units) {
				t.Fatalf("got %d units, want %d", len(got), len(tt.units))
			}
			for i := range got {
				if !sameUnit(got[i], tt.units[i]) {
					t.Errorf("unit %d = %+v, want %+v", i, got[i], tt.units[i])
				}
			}
			if _, _, err := dec.Next(); err != io.EOF {
				t.Errorf("Next after end = %v, want io.EOF", err)
			}
		})
	}
}

func TestDecodeTruncated(t *testing.T) {
	full := encodeAll(t, testTracks(), testUnits(), false)
	dec := NewDecoder(bufio.NewReader(bytes.NewReader(full)))
	if _, err := dec.ReadHeader(); err != nil {
		t.Fatal(err)
	}
	for {
		_, _, err := dec.Next()
		if err == io.EOF {
			break // clean cut between frames: not an end frame
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
	}
	for _, cut := range []int{1, 4, 5, 9, 40, len(full) - 1} {
		dec := NewDecoder(bufio.NewReader(bytes.NewReader(full[:cut])))
		var err error
		if _, err = dec.ReadHeader(); err == nil {
			for err == nil {
				_, _, err = dec.Next()
			}
		}
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("cut at %d: err = %v, want io.ErrUnexpectedEOF", cut, err)
		}
	}
}

// cat joins byte slices into a new one.
func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// frame builds a raw frame.
func frame(typ FrameType, payload []byte) []byte {
	b := []byte{byte(typ), 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[1:], uint32(len(payload)))
	return append(b, payload...)
}

func TestDecodeRejects(t *testing.T) {
	hdr := encodeAll(t, testTracks()[:1], nil, false)
	unit := func(track, flags byte, extra ...byte) []byte {
		p := append([]byte{track, flags}, make([]byte, 16)...)
		return frame(FrameUnit, append(p, extra...))
	}
	big := []byte{byte(FrameUnit), 0xff, 0xff, 0xff, 0xff}
	tests := []struct {
		name  string
		input []byte
		want  error
	}{
		{"empty", nil, io.EOF},
		{"unit first", unit(0, 0), ErrMalformed},
		{"bad magic", frame(FrameHeader, []byte("XXXX\x01\x01")), ErrMalformed},
		{"version 2", frame(FrameHeader, []byte("CLRY\x02\x01")), ErrVersion},
		{"no tracks", frame(FrameHeader, []byte("CLRY\x01\x00")), ErrMalformed},
		{"17 tracks", frame(FrameHeader, []byte("CLRY\x01\x11")), ErrTooLarge},
		{"huge header", []byte{byte(FrameHeader), 0, 0x20, 0, 0}, ErrTooLarge},
		{"short track", frame(FrameHeader, append([]byte("CLRY\x01\x01"), make([]byte, trackFixed-1)...)), ErrMalformed},
		{"empty codec", frame(FrameHeader, append([]byte("CLRY\x01\x01"), make([]byte, trackFixed)...)), ErrMalformed},
		{"sps past end", frame(FrameHeader, append([]byte("CLRY\x01\x01\x01H"), append(make([]byte, 20), 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0)...)), ErrMalformed},
		{"negative width", frame(FrameHeader, append([]byte("CLRY\x01\x01\x01H"), append([]byte{0, 0, 0, 0, 0x80, 0, 0, 0}, make([]byte, 24)...)...)), ErrMalformed},
		{"trailing header bytes", frame(FrameHeader, append([]byte("CLRY\x01\x01\x01H"), make([]byte, 33)...)), ErrMalformed},
		{"unknown track", cat(hdr, unit(1, 0)), ErrMalformed},
		{"unknown flags", cat(hdr, unit(0, 4)), ErrMalformed},
		{"short unit", cat(hdr, frame(FrameUnit, make([]byte, 17))), ErrMalformed},
		{"ingest without room", cat(hdr, unit(0, flagIngest, 1, 2)), ErrMalformed},
		{"oversized unit", cat(hdr, big), ErrTooLarge},
		{"ping with payload", cat(hdr, frame(FramePing, []byte{1})), ErrMalformed},
		{"end with payload", cat(hdr, frame(FrameEnd, []byte{1})), ErrMalformed},
		{"second header", cat(hdr, hdr), ErrMalformed},
		{"unknown type", cat(hdr, frame(9, nil)), ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dec := NewDecoder(bufio.NewReader(bytes.NewReader(tt.input)))
			_, err := dec.ReadHeader()
			for err == nil {
				var kind FrameType
				kind, _, err = dec.Next()
				if err == nil && kind == FrameEnd {
					t.Fatal("decoded an end frame, want an error")
				}
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestEncodeRejects(t *testing.T) {
	enc := NewEncoder(io.Discard)
	if _, err := enc.WriteHeader(nil); !errors.Is(err, ErrMalformed) {
		t.Errorf("no tracks: %v", err)
	}
	if _, err := enc.WriteHeader(make([]media.Track, MaxTracks+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("too many tracks: %v", err)
	}
	if _, err := enc.WriteHeader([]media.Track{{Codec: "ThisCodecNameIsLongerThan32Bytes!"}}); !errors.Is(err, ErrMalformed) {
		t.Errorf("long codec: %v", err)
	}
	if _, err := enc.WriteHeader([]media.Track{{Codec: media.H264, Width: -1}}); !errors.Is(err, ErrMalformed) {
		t.Errorf("negative width: %v", err)
	}
	if _, err := enc.WriteHeader([]media.Track{{Codec: media.H264, SPS: make([]byte, MaxHeaderSize)}}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("huge header: %v", err)
	}
	if _, err := enc.WriteHeader(testTracks()); err != nil {
		t.Fatal(err)
	}
	if _, err := enc.WriteUnit(&media.Unit{Track: 2}); !errors.Is(err, ErrMalformed) {
		t.Errorf("unknown track: %v", err)
	}
	if _, err := enc.WriteUnit(&media.Unit{Track: 0, Data: make([]byte, MaxFrameSize)}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("huge unit: %v", err)
	}
}

func TestEncoderDoesNotAllocate(t *testing.T) {
	enc := NewEncoder(io.Discard)
	tracks := testTracks()
	if _, err := enc.WriteHeader(tracks); err != nil {
		t.Fatal(err)
	}
	units := testUnits()
	allocs := testing.AllocsPerRun(100, func() {
		for _, u := range units {
			if _, err := enc.WriteUnit(u); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := enc.WritePing(); err != nil {
			t.Fatal(err)
		}
		if _, err := enc.WriteHeader(tracks); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("encoding allocates %.1f times per run, want 0", allocs)
	}
}

// TestDecodeLyingLength: a frame that announces the maximum size but
// carries a few bytes must not allocate the announced size.
func TestDecodeLyingLength(t *testing.T) {
	hdr := encodeAll(t, testTracks(), nil, false)
	lie := []byte{byte(FrameUnit), 0, 0, 0, 0}
	binary.BigEndian.PutUint32(lie[1:], MaxFrameSize)
	input := cat(hdr, lie, make([]byte, 100))

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 20 {
		dec := NewDecoder(bufio.NewReader(bytes.NewReader(input)))
		if _, err := dec.ReadHeader(); err != nil {
			t.Fatal(err)
		}
		if _, _, err := dec.Next(); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("err = %v, want io.ErrUnexpectedEOF", err)
		}
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / 20; per > 256<<10 {
		t.Errorf("decoding a lying frame allocated %d bytes, want < 256 KiB", per)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(encodeAll(f, testTracks(), testUnits()[:3], true))
	f.Add(encodeAll(f, testTracks(), testUnits()[1:2], false))
	f.Add(encodeAll(f, []media.Track{{Codec: media.Opus, ClockRate: 48000}}, []*media.Unit{{Track: 0, Key: true, Data: []byte{1, 2, 3}}}, true))
	f.Add(frame(FrameHeader, []byte("CLRY\x01\x01")))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		dec := NewDecoder(bufio.NewReader(bytes.NewReader(data)))
		tracks, err := dec.ReadHeader()
		if err != nil {
			return
		}
		if len(tracks) == 0 || len(tracks) > MaxTracks {
			t.Fatalf("decoded %d tracks", len(tracks))
		}
		var units []*media.Unit
		for {
			kind, u, err := dec.Next()
			if err != nil || kind == FrameEnd {
				break
			}
			if kind != FrameUnit {
				continue
			}
			if u.Track >= len(tracks) {
				t.Fatalf("unit of track %d of %d", u.Track, len(tracks))
			}
			if len(u.Data) > len(data) || cap(u.Data) > max(readChunk, 2*len(data)) {
				t.Fatalf("unit data len %d cap %d from %d input bytes", len(u.Data), cap(u.Data), len(data))
			}
			units = append(units, u)
		}
		// What decodes must re-encode and decode to the same.
		again := NewDecoder(bufio.NewReader(bytes.NewReader(encodeAll(t, tracks, units, true))))
		tracks2, err := again.ReadHeader()
		if err != nil || !reflect.DeepEqual(tracks, tracks2) {
			t.Fatalf("re-decoded tracks %+v, %v; want %+v", tracks2, err, tracks)
		}
		for i, u := range units {
			kind, u2, err := again.Next()
			for err == nil && kind == FramePing {
				kind, u2, err = again.Next()
			}
			if err != nil || kind != FrameUnit || !sameUnit(u, u2) {
				t.Fatalf("re-decoded unit %d = %+v, %v; want %+v", i, u2, err, u)
			}
		}
	})
}
