package rtmp

import (
	"bytes"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/colony-live/colony/core/codec"
	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/ports"
)

var discard = slog.New(slog.DiscardHandler)

// tag is one message given to a publisher.
type tag struct {
	at    time.Duration // since the publish
	video bool
	ts    uint32
	body  []byte
	meta  *streamMeta
}

func feed(t *testing.T, p *publisher, t0 time.Time, tags []tag) error {
	t.Helper()
	for _, g := range tags {
		now := t0.Add(g.at)
		var err error
		switch {
		case g.meta != nil:
			p.onMeta(*g.meta)
		case g.video:
			err = p.onVideo(now, g.ts, g.body)
		default:
			err = p.onAudio(now, g.ts, g.body)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func TestPublisher(t *testing.T) {
	const wait = 3 * time.Second
	vh := tag{video: true, body: avcSeqHeader()}
	ah := tag{body: aacSeqHeader(testASC)}
	key := func(at time.Duration, ts uint32) tag {
		return tag{at: at, video: true, ts: ts, body: avcFrame(1, 0, testIDR)}
	}
	inter := func(at time.Duration, ts uint32) tag {
		return tag{at: at, video: true, ts: ts, body: avcFrame(2, 0, testP)}
	}
	audio := func(at time.Duration, ts uint32) tag {
		return tag{at: at, ts: ts, body: aacFrame([]byte{0x21, byte(ts)})}
	}
	videoOnly := streamMeta{known: true, video: true}

	type unit struct {
		track int
		dts   time.Duration
		key   bool
	}
	tests := []struct {
		name       string
		tags       []tag
		wantCodecs []media.Codec // nil: not started
		wantUnits  []unit
		wantErr    error
	}{
		{
			// The reader (media.Stream) starts at the first video keyframe,
			// so the audio unit buffered before it is not seen.
			name:       "both headers start at once, video first",
			tags:       []tag{ah, audio(0, 0), vh, key(0, 0), audio(0, 23), inter(0, 33)},
			wantCodecs: []media.Codec{media.H264, media.AAC},
			wantUnits:  []unit{{0, 0, true}, {1, 23 * time.Millisecond, true}, {0, 33 * time.Millisecond, false}},
		},
		{
			name:       "video only starts after the wait, audio dropped",
			tags:       []tag{vh, key(0, 0), inter(time.Second, 1000), inter(wait, 3000), audio(wait, 3001), inter(wait, 3033)},
			wantCodecs: []media.Codec{media.H264},
			wantUnits:  []unit{{0, 0, true}, {0, time.Second, false}, {0, 3 * time.Second, false}, {0, 3033 * time.Millisecond, false}},
		},
		{
			name:       "video only is not started early",
			tags:       []tag{vh, key(0, 0), inter(wait-time.Millisecond, 2999)},
			wantCodecs: nil,
		},
		{
			name:       "metadata announces video only",
			tags:       []tag{{meta: &videoOnly}, vh, key(0, 0)},
			wantCodecs: []media.Codec{media.H264},
			wantUnits:  []unit{{0, 0, true}},
		},
		{
			name:       "audio only after the wait",
			tags:       []tag{ah, audio(0, 0), audio(wait, 3000)},
			wantCodecs: []media.Codec{media.AAC},
			wantUnits:  []unit{{0, 0, true}, {0, 3 * time.Second, true}},
		},
		{
			name:    "no sequence header",
			tags:    []tag{key(0, 0), inter(wait, 3000)},
			wantErr: ErrNoTracks,
		},
		{
			name:    "malformed tag",
			tags:    []tag{vh, {video: true, body: []byte{0x17, 0x01}}},
			wantErr: ErrMalformedTag,
		},
		{
			name:       "timestamps rebased to the first message",
			tags:       []tag{{video: true, ts: 10000, body: avcSeqHeader()}, {ts: 10000, body: aacSeqHeader(testASC)}, key(0, 10000), audio(0, 10010)},
			wantCodecs: []media.Codec{media.H264, media.AAC},
			wantUnits:  []unit{{0, 0, true}, {1, 10 * time.Millisecond, true}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pub := newRecPub(t, ports.PublishRequest{})
			t0 := time.Unix(1000, 0)
			p := newPublisher(pub, discard, wait, t0)
			err := feed(t, p, t0, tc.tags)
			pub.End(err)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			var codecs []media.Codec
			for _, tr := range pub.tracks {
				codecs = append(codecs, tr.Codec)
			}
			if !equal(codecs, tc.wantCodecs) {
				t.Fatalf("tracks = %v, want %v", codecs, tc.wantCodecs)
			}
			var units []unit
			for _, u := range pub.units {
				units = append(units, unit{u.Track, u.DTS, u.Key})
				if u.Ingest.IsZero() {
					t.Fatal("unit without ingest time")
				}
			}
			if !equal(units, tc.wantUnits) {
				t.Fatalf("units = %v, want %v", units, tc.wantUnits)
			}
		})
	}
}

func equal[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestPublisherStartError(t *testing.T) {
	pub := newRecPub(t, ports.PublishRequest{})
	pub.startErr = errors.New("boom")
	t0 := time.Now()
	p := newPublisher(pub, discard, time.Second, t0)
	err := feed(t, p, t0, []tag{{video: true, body: avcSeqHeader()}, {body: aacSeqHeader(testASC)}})
	if !errors.Is(err, pub.startErr) {
		t.Fatalf("err = %v, want %v", err, pub.startErr)
	}
	if p.started() {
		t.Fatal("publisher says started")
	}
}

// After a mid-stream H.264 parameter change, keyframes carry the new SPS
// and PPS in-band (the track is fixed at Start).
func TestPublisherParameterChange(t *testing.T) {
	pub := newRecPub(t, ports.PublishRequest{})
	t0 := time.Now()
	p := newPublisher(pub, discard, time.Second, t0)
	newSPS := append(bytes.Clone(testSPS[:len(testSPS)-1]), 0x81)
	rec, err := codec.BuildAVCDecoderConfig(newSPS, testPPS)
	if err != nil {
		t.Fatal(err)
	}
	err = feed(t, p, t0, []tag{
		{video: true, body: avcSeqHeader()}, {body: aacSeqHeader(testASC)},
		{video: true, ts: 0, body: avcFrame(1, 0, testIDR)},
		{video: true, ts: 33, body: append([]byte{0x17, 0, 0, 0, 0}, rec...)},
		{video: true, ts: 33, body: avcFrame(1, 0, testIDR)},
		{video: true, ts: 66, body: avcFrame(2, 0, testP)},
		{video: true, ts: 99, body: avcSeqHeader()}, // back to the original
		{video: true, ts: 99, body: avcFrame(1, 0, testIDR)},
	})
	pub.End(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pub.tracks[0].SPS, testSPS) {
		t.Fatal("track SPS changed")
	}
	want := [][][]byte{{testIDR}, {newSPS, testPPS, testIDR}, {testP}, {testIDR}}
	if len(pub.units) != len(want) {
		t.Fatalf("got %d units, want %d", len(pub.units), len(want))
	}
	for i, u := range pub.units {
		nalus, err := codec.SplitAVCC(nil, u.Data)
		if err != nil {
			t.Fatal(err)
		}
		if len(nalus) != len(want[i]) {
			t.Fatalf("unit %d has %d NAL units, want %d", i, len(nalus), len(want[i]))
		}
		for j := range nalus {
			if !bytes.Equal(nalus[j], want[i][j]) {
				t.Fatalf("unit %d NAL %d = % x, want % x", i, j, nalus[j], want[i][j])
			}
		}
	}
}

// The backlog kept before the start is bounded.
func TestPublisherPendingBound(t *testing.T) {
	pub := newRecPub(t, ports.PublishRequest{})
	t0 := time.Now()
	p := newPublisher(pub, discard, time.Hour, t0)
	if err := p.onVideo(t0, 0, avcSeqHeader()); err != nil {
		t.Fatal(err)
	}
	for i := range maxPendingUnits + 10 {
		if err := p.onVideo(t0, uint32(i), avcFrame(2, 0, testP)); err != nil {
			t.Fatal(err)
		}
		if len(p.pending) > maxPendingUnits {
			t.Fatalf("%d pending units", len(p.pending))
		}
	}
	pub.End(nil)
}
