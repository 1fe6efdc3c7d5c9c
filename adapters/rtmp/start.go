package rtmp

import (
	"bytes"
	"errors"
	"time"

	flvtag "github.com/yutopp/go-flv/tag"
)

// ErrNoTracks: the publisher sent no H.264 or AAC sequence header in time.
var ErrNoTracks = errors.New("no H.264 or AAC sequence header received")

// streamMeta is what the publisher's onMetaData announces.
type streamMeta struct {
	known        bool // onMetaData named its codecs
	video, audio bool // the publisher announced video / audio
}

// metaFromFLV reads the codecs announced by an @setDataFrame onMetaData
// payload. Metadata is advisory: anything unreadable gives a zero streamMeta,
// and the publisher carries on.
func metaFromFLV(payload []byte) (meta streamMeta) {
	// Metadata is decoded by third-party code (go-flv, go-amf0: patched in
	// third_party/go-amf0 after FuzzMetaFromFLV found a panic and an
	// out-of-memory); whatever it does, unreadable metadata must not drop
	// the publisher.
	defer func() {
		if recover() != nil {
			meta = streamMeta{}
		}
	}()
	var script flvtag.ScriptData
	if err := flvtag.DecodeScriptData(bytes.NewReader(payload), &script); err != nil {
		return streamMeta{}
	}
	md, ok := script.Objects["onMetaData"]
	if !ok {
		return streamMeta{}
	}
	_, v := md["videocodecid"]
	_, a := md["audiocodecid"]
	return streamMeta{known: v || a, video: v, audio: a}
}

// readyToStart decides whether a publication can start with the sequence
// headers received so far, waited after the publish command: at once with
// both, or with those the metadata announced, or with at least one after
// maxWait. With none after maxWait it returns ErrNoTracks.
func readyToStart(haveVideo, haveAudio bool, meta streamMeta, waited, maxWait time.Duration) (bool, error) {
	switch {
	case haveVideo && haveAudio:
		return true, nil
	case meta.known && (haveVideo || haveAudio) && (haveVideo || !meta.video) && (haveAudio || !meta.audio):
		return true, nil
	case waited < maxWait:
		return false, nil
	case haveVideo || haveAudio:
		return true, nil
	default:
		return false, ErrNoTracks
	}
}
