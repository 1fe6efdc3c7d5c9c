package rest

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
)

// fakeStreams serves live streams and their renditions.
type fakeStreams struct {
	streams    map[stream.Key]*media.Stream
	renditions map[stream.Key][]ports.Rendition
}

func (f fakeStreams) LocalStream(k stream.Key) (*media.Stream, bool) {
	s, ok := f.streams[k]
	return s, ok
}

func (f fakeStreams) Renditions(k stream.Key) []ports.Rendition { return f.renditions[k] }

func TestBroadcastStatistics(t *testing.T) {
	e := newEnv(t, nil)
	if _, err := e.store.UpdateBroadcast(context.Background(), stream.Key{App: "LiveApp", ID: "alpha"}, false, now, func(b *stream.Broadcast) error {
		b.HLSViewers, b.WebRTCViewers, b.RTMPViewers = 7, 4, 1
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	e.check(t, []apiCase{
		{"GET", "/LiveApp/rest/v2/broadcasts/alpha/broadcast-statistics", "", 200,
			[]string{`"totalHLSWatchersCount":7`, `"totalWebRTCWatchersCount":4`, `"totalRTMPWatchersCount":1`, `"totalDASHWatchersCount":0`}, nil},
		{"GET", "/LiveApp/rest/v2/broadcasts/gamma/broadcast-statistics", "", 200, []string{`"totalHLSWatchersCount":0`}, nil},
		{"GET", "/LiveApp/rest/v2/broadcasts/nosuch/broadcast-statistics", "", 404, nil, nil},
		{"GET", "/LiveApp/rest/v2/broadcasts/a..b/broadcast-statistics", "", 400, nil, nil},
		{"GET", "/NoApp/rest/v2/broadcasts/alpha/broadcast-statistics", "", 404, nil, nil},
	})
}

func TestStreamInfo(t *testing.T) {
	alpha := stream.Key{App: "LiveApp", ID: "alpha"}
	src := media.NewStream([]media.Track{
		{Codec: media.H264, ClockRate: 90000, Width: 1920, Height: 1080},
		{Codec: media.AAC, ClockRate: 48000, SampleRate: 48000, Channels: 2},
	}, media.StreamConfig{})
	r720 := media.NewStream([]media.Track{{Codec: media.H264, ClockRate: 90000, Width: 1280, Height: 720}}, media.StreamConfig{})
	t.Cleanup(src.Close)
	t.Cleanup(r720.Close)
	streams := fakeStreams{
		streams:    map[stream.Key]*media.Stream{alpha: src},
		renditions: map[stream.Key][]ports.Rendition{alpha: {{Name: "720p", Rung: stream.Rendition{Height: 720, VideoBitrate: 2_000_000, AudioBitrate: 128_000}, Stream: r720}}},
	}
	e := newEnv(t, func(c *Config) { c.Streams = streams })
	if _, err := e.store.UpdateBroadcast(context.Background(), alpha, false, now, func(b *stream.Broadcast) error {
		b.Bitrate, b.VideoCodec, b.AudioCodec, b.OriginAddr = 4_500_000, "H264", "AAC", "10.0.0.1"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	got := streamInfos(t, e, "/LiveApp/rest/v2/broadcasts/alpha/stream-info")
	want := []StreamInfo{
		{StreamID: "alpha", Name: "source", VideoWidth: 1920, VideoHeight: 1080, VideoBitrate: 4_500_000, VideoCodec: "H264", AudioCodec: "AAC",
			AudioSampleRate: 48000, AudioChannels: 2, VideoEnabled: true, AudioEnabled: true, Host: "10.0.0.1"},
		{StreamID: "alpha_720p", Name: "720p", VideoWidth: 1280, VideoHeight: 720, VideoBitrate: 2_000_000, AudioBitrate: 128_000, VideoCodec: "H264", VideoEnabled: true, Host: "10.0.0.1"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("stream-info =\n%+v\nwant\n%+v", got, want)
	}
	// beta is live but not on this node: the record answers.
	got = streamInfos(t, e, "/LiveApp/rest/v2/broadcasts/beta/stream-info")
	if len(got) != 1 || got[0].VideoWidth != 1280 || got[0].VideoHeight != 720 || got[0].Name != "source" {
		t.Fatalf("stream-info of a stream live elsewhere = %+v", got)
	}
	// gamma is not live.
	if got = streamInfos(t, e, "/LiveApp/rest/v2/broadcasts/gamma/stream-info"); len(got) != 0 {
		t.Fatalf("stream-info of a stream not live = %+v", got)
	}
	e.check(t, []apiCase{
		{"GET", "/LiveApp/rest/v2/broadcasts/nosuch/stream-info", "", 404, nil, nil},
		{"GET", "/LiveApp/rest/v2/broadcasts/a..b/stream-info", "", 400, nil, nil},
	})
}

func streamInfos(t *testing.T, e *env, path string) []StreamInfo {
	t.Helper()
	code, body := e.do(t, "GET", path, "")
	var out []StreamInfo
	if err := json.Unmarshal([]byte(body), &out); code != 200 || err != nil || out == nil {
		t.Fatalf("GET %s = %d %s (%v)", path, code, body, err)
	}
	return out
}
