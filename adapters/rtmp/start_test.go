package rtmp

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/yutopp/go-amf0"
)

func TestReadyToStart(t *testing.T) {
	const wait = 3 * time.Second
	both := streamMeta{known: true, video: true, audio: true}
	videoOnly := streamMeta{known: true, video: true}
	tests := []struct {
		name         string
		video, audio bool
		meta         streamMeta
		waited       time.Duration
		want         bool
		wantErr      error
	}{
		{name: "both", video: true, audio: true, want: true},
		{name: "video only, early", video: true, waited: time.Second},
		{name: "audio only, early", audio: true, waited: time.Second},
		{name: "video only, late", video: true, waited: wait, want: true},
		{name: "audio only, late", audio: true, waited: wait + time.Second, want: true},
		{name: "nothing, early", waited: time.Second},
		{name: "nothing, late", waited: wait, wantErr: ErrNoTracks},
		{name: "metadata: video only", video: true, meta: videoOnly, want: true},
		{name: "metadata: both, video only", video: true, meta: both},
		{name: "metadata: video only, nothing yet", meta: videoOnly},
		{name: "metadata: video, got audio", audio: true, meta: videoOnly},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readyToStart(tc.video, tc.audio, tc.meta, tc.waited, wait)
			if !errors.Is(err, tc.wantErr) || got != tc.want {
				t.Fatalf("readyToStart = %v, %v; want %v, %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func scriptData(t testing.TB, name string, obj amf0.ECMAArray) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := amf0.NewEncoder(&b)
	if err := enc.Encode(name); err != nil {
		t.Fatal(err)
	}
	if err := enc.Encode(obj); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestMetaFromFLV(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want streamMeta
	}{
		{name: "both", in: scriptData(t, "onMetaData", amf0.ECMAArray{"videocodecid": 7.0, "audiocodecid": 10.0, "width": 320.0}), want: streamMeta{known: true, video: true, audio: true}},
		{name: "video only", in: scriptData(t, "onMetaData", amf0.ECMAArray{"videocodecid": 7.0}), want: streamMeta{known: true, video: true}},
		{name: "no codecs", in: scriptData(t, "onMetaData", amf0.ECMAArray{"width": 320.0})},
		{name: "other name", in: scriptData(t, "onCuePoint", amf0.ECMAArray{"videocodecid": 7.0})},
		{name: "garbage", in: []byte{0x02, 0xff, 0xff, 1}},
		{name: "nested ECMA array", in: nestedECMA},
		{name: "empty", in: nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := metaFromFLV(tc.in); got != tc.want {
				t.Fatalf("metaFromFLV = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// nestedECMA is onMetaData whose ECMA array holds a number and then another
// ECMA array: go-amf0 v0.1.0 reuses the value slot between properties and
// panics decoding the second into the non-nil interface.
var nestedECMA = []byte{
	0x02, 0x00, 0x0a, 'o', 'n', 'M', 'e', 't', 'a', 'D', 'a', 't', 'a', // "onMetaData"
	0x08, 0, 0, 0, 2, // ECMA array, 2 elements
	0x00, 0x01, 'a', 0x00, 0x40, 0x1c, 0, 0, 0, 0, 0, 0, // "a": 7.0
	0x00, 0x01, 'x', 0x08, 0, 0, 0, 0, // "x": ECMA array, 0 elements
	0x00, 0x00, 0x09, // inner end
	0x00, 0x00, 0x09, // outer end
}

func FuzzMetaFromFLV(f *testing.F) {
	f.Add(scriptData(f, "onMetaData", amf0.ECMAArray{"videocodecid": 7.0, "audiocodecid": 10.0}))
	f.Add([]byte{0x02, 0x00, 0x01, 'a', 0x08, 0, 0, 0, 1})
	f.Add([]byte{})
	f.Add(nestedECMA)
	f.Fuzz(func(t *testing.T, in []byte) {
		m := metaFromFLV(in)
		if !m.known && (m.video || m.audio) {
			t.Fatalf("unknown metadata with codecs: %+v", m)
		}
	})
}
