package main

import (
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
)

// partRef names a part: media sequence number of its segment and index in
// that segment.
type partRef struct{ msn, k int }

// locKind says what an LL-HLS viewer does for the part it wants next.
type locKind int

const (
	locWait    locKind = iota // not there yet: wait for the next playlist
	locPart                   // a listed part: fetch uri
	locHint                   // the preload hint: fetch uri, the server answers when it is ready
	locSegment                // a listed segment whose parts are not listed: fetch the whole segment
	locSkip                   // nothing to fetch: go on at next
	locGone                   // it left the playlist: restart from the hold-back point
)

type location struct {
	kind locKind
	uri  string
	next partRef // where to go on after this one
}

// locate says where part want is in pl.
func locate(pl *playlist.Media, want partRef) location {
	first := pl.MediaSequence
	trailing := first + len(pl.Segments) // msn of the segment being built
	switch {
	case want.msn < first:
		return location{kind: locGone}
	case want.msn < trailing:
		seg := pl.Segments[want.msn-first]
		after := partRef{want.msn + 1, 0}
		switch {
		case seg.Gap:
			return location{kind: locSkip, next: after}
		case len(seg.Parts) == 0 && want.k == 0:
			return location{kind: locSegment, uri: seg.URI, next: after}
		case want.k < len(seg.Parts):
			return location{kind: locPart, uri: seg.Parts[want.k].URI, next: partRef{want.msn, want.k + 1}}
		}
		return location{kind: locSkip, next: after}
	case want.msn == trailing:
		if want.k < len(pl.Parts) {
			return location{kind: locPart, uri: pl.Parts[want.k].URI, next: partRef{want.msn, want.k + 1}}
		}
		if want.k == len(pl.Parts) && pl.PreloadHint != nil && pl.PreloadHint.URI != "" {
			return location{kind: locHint, uri: pl.PreloadHint.URI, next: partRef{want.msn, want.k + 1}}
		}
	}
	return location{kind: locWait}
}

// blockingTarget is the part a blocking playlist reload asks for: the one
// after the last part listed.
func blockingTarget(pl *playlist.Media) partRef {
	return partRef{pl.MediaSequence + len(pl.Segments), len(pl.Parts)}
}

// listedPart is a part of pl with its position.
type listedPart struct {
	ref         partRef
	dur         time.Duration
	independent bool
}

func listParts(pl *playlist.Media) []listedPart {
	var out []listedPart
	add := func(msn int, parts []*playlist.MediaPart) {
		for k, p := range parts {
			out = append(out, listedPart{partRef{msn, k}, p.Duration, p.Independent})
		}
	}
	for i, s := range pl.Segments {
		add(pl.MediaSequence+i, s.Parts)
	}
	add(pl.MediaSequence+len(pl.Segments), pl.Parts)
	return out
}

// pickStart returns where an LL-HLS viewer starts loading: the
// independent part at or before the position PART-HOLD-BACK (default 3
// part targets) from the end of the playlist; and how much media to skip
// from there, as a player decodes from that part but starts showing at
// the hold-back position itself (hls.js seeks to it; a position on the
// part boundary before it would play up to a part later than the
// playlist asks). Without listed parts it starts at the last full segment.
func pickStart(pl *playlist.Media) (partRef, time.Duration) {
	parts := listParts(pl)
	if len(parts) == 0 {
		return partRef{pl.MediaSequence + max(0, len(pl.Segments)-1), 0}, 0
	}
	holdBack := 3 * time.Second
	if pl.PartInf != nil {
		holdBack = 3 * pl.PartInf.PartTarget
	}
	if pl.ServerControl != nil && pl.ServerControl.PartHoldBack != nil {
		holdBack = *pl.ServerControl.PartHoldBack
	}
	i := len(parts) - 1
	var acc time.Duration // from the start of part i to the end
	for ; i >= 0; i-- {
		acc += parts[i].dur
		if acc >= holdBack || i == 0 {
			break
		}
	}
	// The hold-back position is this far into part i.
	skip := max(0, acc-holdBack)
	for i > 0 && !parts[i].independent {
		i--
		skip += parts[i].dur
	}
	return parts[i].ref, skip
}
