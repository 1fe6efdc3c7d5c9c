package node

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/colony-live/colony/core/stream"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func sk(app, id string) stream.Key { return stream.Key{App: stream.App(app), ID: stream.ID(id)} }

func TestReportedViewers(t *testing.T) {
	a, b, c, d := sk("LiveApp", "a"), sk("LiveApp", "b"), sk("LiveApp", "c"), sk("WebRTCAppEE", "a")
	tests := []struct {
		name  string
		in    []StreamViewers
		limit int
		want  []StreamViewers
	}{
		{name: "Nothing", in: nil, limit: 10, want: nil},
		{name: "NoViewersLeftOut", in: []StreamViewers{{Stream: a}, {Stream: b}}, limit: 10, want: nil},
		{
			name:  "SortedByStream",
			in:    []StreamViewers{{Stream: d, RTMP: 1}, {Stream: b, HLS: 2}, {Stream: c}, {Stream: a, WebRTC: 3}},
			limit: 10,
			want:  []StreamViewers{{Stream: a, WebRTC: 3}, {Stream: b, HLS: 2}, {Stream: d, RTMP: 1}},
		},
		{
			name:  "BoundKeepsTheMostWatched",
			in:    []StreamViewers{{Stream: a, HLS: 1}, {Stream: b, HLS: 5}, {Stream: c, WebRTC: 2, RTMP: 2}, {Stream: d, HLS: 1}},
			limit: 2,
			want:  []StreamViewers{{Stream: b, HLS: 5}, {Stream: c, WebRTC: 2, RTMP: 2}},
		},
		{
			name:  "TiesByStream",
			in:    []StreamViewers{{Stream: d, HLS: 1}, {Stream: b, HLS: 1}, {Stream: a, HLS: 1}},
			limit: 2,
			want:  []StreamViewers{{Stream: a, HLS: 1}, {Stream: b, HLS: 1}},
		},
		{name: "ZeroLimit", in: []StreamViewers{{Stream: a, HLS: 1}}, limit: 0, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := append([]StreamViewers(nil), tt.in...)
			got := ReportedViewers(tt.in, tt.limit)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ReportedViewers = %+v, want %+v", got, tt.want)
			}
			if !reflect.DeepEqual(in, tt.in) {
				t.Errorf("ReportedViewers modified its input: %+v, was %+v", tt.in, in)
			}
		})
	}
}

func TestReportedViewersBound(t *testing.T) {
	in := make([]StreamViewers, 0, 2*MaxStreamViewers)
	for i := range 2 * MaxStreamViewers {
		in = append(in, StreamViewers{Stream: sk("LiveApp", fmt.Sprintf("s%04d", i)), HLS: i % 7})
	}
	got := ReportedViewers(in, MaxStreamViewers)
	if len(got) != MaxStreamViewers {
		t.Fatalf("%d entries, want %d", len(got), MaxStreamViewers)
	}
	for i, v := range got {
		if v.HLS < 3 {
			t.Fatalf("entry %d = %+v: a stream with fewer viewers than a left-out one was kept", i, v)
		}
		if i > 0 && compareKeys(got[i-1].Stream, v.Stream) >= 0 {
			t.Fatalf("entries %d and %d out of order: %v, %v", i-1, i, got[i-1].Stream, v.Stream)
		}
	}
}

func TestClusterViewers(t *testing.T) {
	now := time.Unix(10000, 0)
	a, b := sk("LiveApp", "a"), sk("LiveApp", "b")
	nodes := []Node{
		{ID: "origin", LastSeen: now, Load: Load{StreamViewers: []StreamViewers{{Stream: a, HLS: 1, RTMP: 1}}}},
		{ID: "edge1", LastSeen: now.Add(-DefaultDeadAfter), Load: Load{StreamViewers: []StreamViewers{{Stream: a, HLS: 2, WebRTC: 3}, {Stream: b, WebRTC: 1}}}},
		{ID: "edge2", LastSeen: now.Add(-time.Second), Load: Load{StreamViewers: []StreamViewers{{Stream: a, HLS: 4}}}},
		{ID: "dead", LastSeen: now.Add(-DefaultDeadAfter - time.Millisecond), Load: Load{StreamViewers: []StreamViewers{{Stream: a, HLS: 100}, {Stream: sk("LiveApp", "c"), HLS: 9}}}},
	}
	got := ClusterViewers(nodes, now, DefaultDeadAfter)
	want := map[stream.Key]StreamViewers{
		a: {Stream: a, HLS: 7, WebRTC: 3, RTMP: 1},
		b: {Stream: b, WebRTC: 1},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ClusterViewers = %+v, want %+v", got, want)
	}
	if got[a].Total() != 11 {
		t.Errorf("Total = %d, want 11", got[a].Total())
	}
	if got := ClusterViewers(nil, now, DefaultDeadAfter); len(got) != 0 {
		t.Errorf("ClusterViewers(nil) = %v", got)
	}
}
