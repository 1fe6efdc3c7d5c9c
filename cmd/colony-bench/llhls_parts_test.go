package main

import (
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
)

const testLLPlaylist = `#EXTM3U
#EXT-X-VERSION:10
#EXT-X-TARGETDURATION:1
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.60000,CAN-SKIP-UNTIL=6.00000
#EXT-X-PART-INF:PART-TARGET=0.20000
#EXT-X-MEDIA-SEQUENCE:4
#EXT-X-MAP:URI="init.mp4"
#EXT-X-GAP
#EXTINF:1.00000,
gap.mp4
#EXTINF:1.00000,
seg5.mp4
#EXT-X-PART:DURATION=0.20000,URI="part20.mp4",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.20000,URI="part21.mp4"
#EXT-X-PART:DURATION=0.20000,URI="part22.mp4"
#EXT-X-PART:DURATION=0.20000,URI="part23.mp4"
#EXT-X-PART:DURATION=0.20000,URI="part24.mp4"
#EXTINF:1.00000,
seg6.mp4
#EXT-X-PART:DURATION=0.20000,URI="part25.mp4",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.20000,URI="part26.mp4"
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part27.mp4"
`

func mustMedia(t *testing.T, s string) *playlist.Media {
	t.Helper()
	pl, err := playlist.Unmarshal([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	m, ok := pl.(*playlist.Media)
	if !ok {
		t.Fatalf("%T, want a media playlist", pl)
	}
	return m
}

func TestLocate(t *testing.T) {
	pl := mustMedia(t, testLLPlaylist)
	tests := []struct {
		want partRef
		loc  location
	}{
		{partRef{3, 0}, location{kind: locGone}},
		{partRef{4, 0}, location{kind: locSkip, next: partRef{5, 0}}},
		{partRef{5, 0}, location{kind: locSegment, uri: "seg5.mp4", next: partRef{6, 0}}},
		{partRef{5, 1}, location{kind: locSkip, next: partRef{6, 0}}},
		{partRef{6, 4}, location{kind: locPart, uri: "part24.mp4", next: partRef{6, 5}}},
		{partRef{6, 5}, location{kind: locSkip, next: partRef{7, 0}}},
		{partRef{7, 1}, location{kind: locPart, uri: "part26.mp4", next: partRef{7, 2}}},
		{partRef{7, 2}, location{kind: locHint, uri: "part27.mp4", next: partRef{7, 3}}},
		{partRef{7, 3}, location{kind: locWait}},
		{partRef{8, 0}, location{kind: locWait}},
	}
	for _, tc := range tests {
		if got := locate(pl, tc.want); got != tc.loc {
			t.Errorf("locate(%v) = %+v, want %+v", tc.want, got, tc.loc)
		}
	}
	if got := blockingTarget(pl); got != (partRef{7, 2}) {
		t.Errorf("blockingTarget = %v, want {7 2}", got)
	}
}

func TestPickStart(t *testing.T) {
	pl := mustMedia(t, testLLPlaylist)
	// 0.6 s before the end is part 24 (msn 6, index 4); the independent
	// part before it is part 20, 0.8 s earlier.
	ref, skip := pickStart(pl)
	if ref != (partRef{6, 0}) || skip != 800*time.Millisecond {
		t.Fatalf("pickStart = %v, %v; want {6 0}, 800ms", ref, skip)
	}
	hb := 300 * time.Millisecond
	pl.ServerControl.PartHoldBack = &hb
	// 0.3 s before the end is 0.1 s into part 25 (msn 7, index 0), an
	// independent one: shown from there, not from its start 0.4 s back.
	if ref, skip := pickStart(pl); ref != (partRef{7, 0}) || skip != 100*time.Millisecond {
		t.Fatalf("hold-back 0.3 s: pickStart = %v, %v; want {7 0}, 100ms", ref, skip)
	}
}

func TestClassicStart(t *testing.T) {
	tests := []struct {
		name     string
		playlist string
		wantMSN  int
		wantSkip time.Duration
	}{
		{"long playlist", "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:10\n" +
			"#EXTINF:2,\na.ts\n#EXTINF:2,\nb.ts\n#EXTINF:2,\nc.ts\n#EXTINF:1.5,\nd.ts\n#EXTINF:2,\ne.ts\n", 11, 1500 * time.Millisecond},
		{"short playlist", "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:3\n#EXTINF:2,\na.ts\n", 3, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msn, skip := classicStart(mustMedia(t, tc.playlist))
			if msn != tc.wantMSN || skip != tc.wantSkip {
				t.Fatalf("classicStart = %d, %v; want %d, %v", msn, skip, tc.wantMSN, tc.wantSkip)
			}
		})
	}
}
