package ffmpeg

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/colony-live/colony/core/codec"
	transcoderv1 "github.com/colony-live/colony/plugins/transcoder/v1"
)

// tsSample is a small MPEG-TS as ffmpeg would write a rendition: an H.264
// keyframe (with SPS/PPS), a delta frame and two AAC frames.
func tsSample(t testing.TB) []byte { return tsSampleSized(t, 4) }

// tsSampleSized is tsSample with a keyframe of about keyBytes bytes.
func tsSampleSized(t testing.TB, keyBytes int) []byte {
	t.Helper()
	sps := []byte{0x67, 0x64, 0x00, 0x1e, 0xac, 0xd9, 0x40, 0xa0, 0x2f, 0xf9, 0x70, 0x11, 0x00, 0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x03, 0x00, 0x3c, 0x0f, 0x16, 0x2d, 0x96}
	pps := []byte{0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0}
	start := &transcoderv1.Start{
		Tracks: []*transcoderv1.Track{
			{Codec: codecH264, ClockRate: 90000, Sps: sps, Pps: pps, Width: 640, Height: 360},
			aacTrack,
		},
		Ladder: []*transcoderv1.Rung{{Name: "360p", Height: 360, VideoBitrate: 1}},
	}
	j, err := newJob(start)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	in, err := newInput(&buf, j, &clock{})
	if err != nil {
		t.Fatal(err)
	}
	units := []*transcoderv1.Unit{
		{Track: 0, Key: true, Data: codec.JoinAVCC([][]byte{append([]byte{0x65, 0x88, 0x84}, bytes.Repeat([]byte{0x5a}, keyBytes-3)...)})},
		{Track: 1, Pts: int64(10 * time.Millisecond), Dts: int64(10 * time.Millisecond), Key: true, Data: []byte{0x21, 0x10, 0x04}},
		{Track: 0, Pts: int64(33 * time.Millisecond), Dts: int64(33 * time.Millisecond), Data: codec.JoinAVCC([][]byte{{0x41, 0x9a, 0x02}})},
		{Track: 1, Pts: int64(31 * time.Millisecond), Dts: int64(31 * time.Millisecond), Key: true, Data: []byte{0x21, 0x10, 0x05}},
		{Track: 0, Pts: int64(66 * time.Millisecond), Dts: int64(66 * time.Millisecond), Data: codec.JoinAVCC([][]byte{{0x41, 0x9a, 0x03}})},
	}
	for _, u := range units {
		if err := in.write(u); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// readOutput runs an output reader over b and returns what it emitted.
func readOutput(b []byte) ([]*transcoderv1.TranscodeResponse, error) {
	clk := &clock{}
	clk.in(0)
	var got []*transcoderv1.TranscodeResponse
	o := &output{clock: clk, emit: func(r *transcoderv1.TranscodeResponse) error { got = append(got, r); return nil }}
	err := o.read(bytes.NewReader(b))
	return got, err
}

func TestOutputTurnsTSIntoUnits(t *testing.T) {
	got, err := readOutput(tsSample(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) < 4 {
		t.Fatalf("got %d responses", len(got))
	}
	tr := got[0].GetTracks()
	if tr == nil || len(tr.Tracks) != 2 || tr.Tracks[0].Width != 640 || tr.Tracks[0].Height != 360 || tr.Tracks[1].Codec != codecAAC {
		t.Fatalf("first response %v, want the rendition's tracks", got[0])
	}
	var video []*transcoderv1.Unit
	for _, r := range got[1:] {
		if u := r.GetUnit(); u != nil && u.Unit.Track == 0 {
			video = append(video, u.Unit)
		}
	}
	if len(video) < 2 || !video[0].Key || video[1].Key || time.Duration(video[1].Pts) != 33*time.Millisecond {
		t.Fatalf("video units %v", video)
	}
	nalus, err := codec.SplitAVCC(nil, video[0].Data)
	if err != nil || codec.NALUType(nalus[0]) != codec.NALUSPS || !codec.ContainsIDR(nalus) {
		t.Fatalf("keyframe NAL units %v (%v): want SPS, PPS, IDR and no AUD", nalus, err)
	}
}

// chunkReader hands out b at most chunk bytes a call, as a pipe hands out
// what ffmpeg wrote, and counts the calls.
type chunkReader struct {
	b     []byte
	chunk int
	calls int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	r.calls++
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b[:min(len(r.b), r.chunk)])
	r.b = r.b[n:]
	return n, nil
}

// The output reads its pipe in whatever pieces ffmpeg wrote, not a
// system call per 188-byte packet, and still emits every unit.
func TestOutputReadsBuffered(t *testing.T) {
	ts := tsSampleSized(t, 40<<10) // a 40 KB keyframe: some 220 packets
	want, err := readOutput(ts)
	if err != nil {
		t.Fatal(err)
	}
	const chunk = 64 * 188
	r := &chunkReader{b: ts, chunk: chunk}
	clk := &clock{}
	clk.in(0)
	var got int
	o := &output{clock: clk, emit: func(*transcoderv1.TranscodeResponse) error { got++; return nil }}
	if err := o.read(r); err != nil {
		t.Fatal(err)
	}
	if got != len(want) {
		t.Fatalf("%d responses, want %d", got, len(want))
	}
	if most := (len(ts)+chunk-1)/chunk + 2; r.calls > most {
		t.Fatalf("%d reads for %d bytes in pieces of %d: want at most %d", r.calls, len(ts), chunk, most)
	}
	t.Logf("%d packets, %d reads", len(ts)/188, r.calls)
}

func FuzzOutputRead(f *testing.F) {
	f.Add(tsSample(f))
	f.Add([]byte{0x47, 0x40, 0x00, 0x10})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := readOutput(b)
		if err != nil && !errors.Is(err, errRendition) && len(got) == 0 {
			return // unreadable input is an error, not a crash
		}
		for _, r := range got {
			if u := r.GetUnit(); u != nil {
				if _, err := codec.SplitAVCC(nil, u.Unit.Data); u.Unit.Track == 0 && err != nil {
					t.Fatalf("emitted a malformed AVCC unit: %v", err)
				}
			}
		}
	})
}
