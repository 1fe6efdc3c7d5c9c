package rtmp

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
	"time"

	"github.com/colony-live/colony/core/codec"
	"github.com/colony-live/colony/core/media"
)

func TestVideoFromFLV(t *testing.T) {
	const dts = 2 * time.Second
	tests := []struct {
		name      string
		in        []byte
		wantTrack bool
		wantUnit  *media.Unit
		wantErr   error
	}{
		{name: "sequence header", in: avcSeqHeader(), wantTrack: true},
		{name: "keyframe", in: avcFrame(1, 0, testIDR), wantUnit: &media.Unit{PTS: dts, DTS: dts, Key: true}},
		{name: "IDR without key flag", in: avcFrame(2, 0, testIDR), wantUnit: &media.Unit{PTS: dts, DTS: dts, Key: true}},
		{name: "inter frame with composition time", in: avcFrame(2, 66, testP), wantUnit: &media.Unit{PTS: dts + 66*time.Millisecond, DTS: dts}},
		{name: "negative composition time", in: avcFrame(2, -33, testP), wantUnit: &media.Unit{PTS: dts - 33*time.Millisecond, DTS: dts}},
		{name: "empty NALU packet", in: avcFrame(2, 0)},
		{name: "end of sequence", in: []byte{0x17, 0x02, 0, 0, 0}},
		{name: "info frame", in: []byte{0x57, 0x00}},
		{name: "empty", in: nil, wantErr: ErrMalformedTag},
		{name: "truncated AVC header", in: []byte{0x17, 0x01, 0}, wantErr: ErrMalformedTag},
		{name: "bad AVCC length", in: []byte{0x17, 0x01, 0, 0, 0, 0, 0, 0, 9, 0x65}, wantErr: ErrMalformedTag},
		{name: "bad sequence header", in: []byte{0x17, 0x00, 0, 0, 0, 1, 2}, wantErr: ErrMalformedTag},
		{name: "unknown AVC packet type", in: []byte{0x17, 0x07, 0, 0, 0}, wantErr: ErrMalformedTag},
		{name: "VP6", in: []byte{0x14, 0x00}, wantErr: ErrUnsupportedCodec},
		{name: "enhanced RTMP HEVC", in: []byte{0x90, 'h', 'v', 'c', '1'}, wantErr: ErrUnsupportedCodec},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := videoFromFLV(dts, tc.in)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (got.Track != nil) != tc.wantTrack {
				t.Fatalf("track = %+v, want one: %v", got.Track, tc.wantTrack)
			}
			if got.Track != nil {
				tr := got.Track
				if tr.Codec != media.H264 || tr.ClockRate != 90000 || tr.Width != 320 || tr.Height != 240 ||
					!bytes.Equal(tr.SPS, testSPS) || !bytes.Equal(tr.PPS, testPPS) {
					t.Fatalf("track = %+v", tr)
				}
			}
			if (got.Unit != nil) != (tc.wantUnit != nil) {
				t.Fatalf("unit = %+v, want %+v", got.Unit, tc.wantUnit)
			}
			if u := got.Unit; u != nil {
				if u.PTS != tc.wantUnit.PTS || u.DTS != tc.wantUnit.DTS || u.Key != tc.wantUnit.Key {
					t.Fatalf("unit = %+v, want %+v", u, tc.wantUnit)
				}
				if !bytes.Equal(u.Data, tc.in[5:]) {
					t.Fatalf("data = % x, want % x", u.Data, tc.in[5:])
				}
			}
		})
	}
}

func TestAudioFromFLV(t *testing.T) {
	const dts = 1500 * time.Millisecond
	tests := []struct {
		name      string
		in        []byte
		wantTrack *media.Track
		wantUnit  bool
		wantErr   error
	}{
		{name: "sequence header", in: aacSeqHeader(testASC), wantTrack: &media.Track{Codec: media.AAC, ClockRate: 44100, Config: testASC, SampleRate: 44100, Channels: 2}},
		{name: "48k mono", in: aacSeqHeader([]byte{0x11, 0x88}), wantTrack: &media.Track{Codec: media.AAC, ClockRate: 48000, Config: []byte{0x11, 0x88}, SampleRate: 48000, Channels: 1}},
		{name: "raw frame", in: aacFrame([]byte{0x21, 0x10, 0x04}), wantUnit: true},
		{name: "empty raw frame", in: aacFrame(nil)},
		{name: "empty", in: nil, wantErr: ErrMalformedTag},
		{name: "no packet type", in: []byte{0xaf}, wantErr: ErrMalformedTag},
		{name: "bad config", in: aacSeqHeader([]byte{0xff}), wantErr: ErrMalformedTag},
		{name: "unknown packet type", in: []byte{0xaf, 0x05}, wantErr: ErrMalformedTag},
		{name: "MP3", in: []byte{0x2f, 0xff, 0xfb}, wantErr: ErrUnsupportedCodec},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := audioFromFLV(dts, tc.in)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (got.Track != nil) != (tc.wantTrack != nil) {
				t.Fatalf("track = %+v, want %+v", got.Track, tc.wantTrack)
			}
			if tr, w := got.Track, tc.wantTrack; tr != nil {
				if tr.Codec != w.Codec || tr.ClockRate != w.ClockRate || !bytes.Equal(tr.Config, w.Config) ||
					tr.SampleRate != w.SampleRate || tr.Channels != w.Channels {
					t.Fatalf("track = %+v, want %+v", tr, w)
				}
			}
			if (got.Unit != nil) != tc.wantUnit {
				t.Fatalf("unit = %+v, want one: %v", got.Unit, tc.wantUnit)
			}
			if u := got.Unit; u != nil {
				if u.PTS != dts || u.DTS != dts || !u.Key || !bytes.Equal(u.Data, tc.in[2:]) {
					t.Fatalf("unit = %+v", u)
				}
			}
		})
	}
}

// go-rtmp reuses the payload buffer after the callback: units and tracks
// must own their bytes.
func TestFLVCopiesPayload(t *testing.T) {
	buf := avcFrame(1, 0, testIDR)
	v, err := videoFromFLV(0, buf)
	if err != nil {
		t.Fatal(err)
	}
	seq := avcSeqHeader()
	vt, err := videoFromFLV(0, seq)
	if err != nil {
		t.Fatal(err)
	}
	abuf := aacSeqHeader(testASC)
	at, err := audioFromFLV(0, abuf)
	if err != nil {
		t.Fatal(err)
	}
	araw := aacFrame([]byte{1, 2, 3})
	au, err := audioFromFLV(0, araw)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range [][]byte{buf, seq, abuf, araw} {
		for i := range b {
			b[i] = 0xee
		}
	}
	if nalus, err := codec.SplitAVCC(nil, v.Unit.Data); err != nil || !bytes.Equal(nalus[0], testIDR) {
		t.Fatalf("video unit data changed with the input: % x", v.Unit.Data)
	}
	if !bytes.Equal(vt.Track.SPS, testSPS) || !bytes.Equal(vt.Track.PPS, testPPS) {
		t.Fatal("H.264 parameter sets changed with the input")
	}
	if !bytes.Equal(at.Track.Config, testASC) {
		t.Fatal("AAC config changed with the input")
	}
	if !bytes.Equal(au.Unit.Data, []byte{1, 2, 3}) {
		t.Fatal("audio unit data changed with the input")
	}
}

func TestReadPayload(t *testing.T) {
	tests := []struct {
		name    string
		r       io.Reader
		limit   int
		want    int
		wantErr error
	}{
		{name: "at the limit", r: bytes.NewReader(make([]byte, 100)), limit: 100, want: 100},
		{name: "empty", r: bytes.NewReader(nil), limit: 100, want: 0},
		{name: "large", r: iotest.HalfReader(bytes.NewReader(make([]byte, 1<<20))), limit: 2 << 20, want: 1 << 20},
		{name: "too large", r: bytes.NewReader(make([]byte, 101)), limit: 100, wantErr: ErrMessageTooLarge},
		{name: "too large, slowly", r: iotest.OneByteReader(bytes.NewReader(make([]byte, 10000))), limit: 100, wantErr: ErrMessageTooLarge},
		{name: "reader error", r: iotest.ErrReader(io.ErrUnexpectedEOF), limit: 100, wantErr: io.ErrUnexpectedEOF},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := readPayload(make([]byte, 7, 10), tc.r, tc.limit)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err == nil && len(b) != tc.want {
				t.Fatalf("len = %d, want %d", len(b), tc.want)
			}
		})
	}
}

// checkResult asserts the invariants of a successful mapping.
func checkResult(t *testing.T, dts time.Duration, in []byte, r flvResult, video bool) {
	t.Helper()
	if r.Track != nil && r.Unit != nil {
		t.Fatal("both a track and a unit")
	}
	if tr := r.Track; tr != nil {
		if video && (tr.Codec != media.H264 || len(tr.SPS) == 0 || len(tr.PPS) == 0 || tr.Width < 0 || tr.Height < 0) {
			t.Fatalf("bad video track %+v", tr)
		}
		if !video && (tr.Codec != media.AAC || tr.ClockRate <= 0 || tr.ClockRate != tr.SampleRate || len(tr.Config) == 0) {
			t.Fatalf("bad audio track %+v", tr)
		}
	}
	if u := r.Unit; u != nil {
		if len(u.Data) == 0 || len(u.Data) >= len(in) || u.DTS != dts {
			t.Fatalf("bad unit %+v from % x", u, in)
		}
		if !video && (u.PTS != dts || !u.Key) {
			t.Fatalf("bad audio unit %+v", u)
		}
		if video {
			if d := u.PTS - u.DTS; d < -(1<<23)*time.Millisecond || d >= (1<<23)*time.Millisecond {
				t.Fatalf("composition time %v out of the 24-bit range", d)
			}
			if _, err := codec.SplitAVCC(nil, u.Data); err != nil {
				t.Fatalf("unit data is not AVCC: %v", err)
			}
		}
		// The unit owns its bytes.
		if len(in) > 0 {
			in[len(in)-1] ^= 0xff
			if u.Data[len(u.Data)-1] == in[len(in)-1] {
				t.Fatal("unit data aliases the input")
			}
			in[len(in)-1] ^= 0xff
		}
	}
}

func checkErr(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, ErrMalformedTag) && !errors.Is(err, ErrUnsupportedCodec) {
		t.Fatalf("error %v is neither ErrMalformedTag nor ErrUnsupportedCodec", err)
	}
}

func FuzzVideoTag(f *testing.F) {
	for _, seed := range [][]byte{
		avcSeqHeader(), avcFrame(1, 0, testIDR), avcFrame(2, -33, testP), avcFrame(2, 0x7fffff, testP, testP),
		{0x17, 0x02, 0, 0, 0}, {0x57, 0}, {0x14, 0}, {0x90, 'h', 'v', 'c', '1'}, {0x17, 0x01, 0, 0, 0, 0, 0, 0, 9},
	} {
		f.Add(uint32(1000), seed)
	}
	f.Fuzz(func(t *testing.T, ms uint32, in []byte) {
		dts := time.Duration(ms) * time.Millisecond
		r, err := videoFromFLV(dts, in)
		if err != nil {
			checkErr(t, err)
			return
		}
		checkResult(t, dts, in, r, true)
	})
}

func FuzzAudioTag(f *testing.F) {
	for _, seed := range [][]byte{
		aacSeqHeader(testASC), aacSeqHeader([]byte{0x2b, 0x11, 0x88, 0x00}), aacFrame([]byte{0x21, 0x10}),
		{0xaf}, {0xaf, 0x05}, {0x2f, 0xff}, aacSeqHeader([]byte{0x17, 0x80, 0, 0, 0x10}),
	} {
		f.Add(uint32(1000), seed)
	}
	f.Fuzz(func(t *testing.T, ms uint32, in []byte) {
		dts := time.Duration(ms) * time.Millisecond
		r, err := audioFromFLV(dts, in)
		if err != nil {
			checkErr(t, err)
			return
		}
		checkResult(t, dts, in, r, false)
	})
}
