package hls

import (
	"errors"
	"fmt"
	"time"

	"github.com/bluenviron/gohlslib/v2"
	"github.com/bluenviron/gohlslib/v2/pkg/codecs"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"

	"github.com/colony-live/colony/core/codec"
	"github.com/colony-live/colony/core/media"
)

// errNoTracks: none of the stream's tracks can be carried by HLS.
var errNoTracks = errors.New("no track can be carried by HLS")

// errNoCompanionTrack: an audio companion without its one AAC track.
var errNoCompanionTrack = errors.New("the audio companion has no AAC track")

// unitWriter writes the units of one media track to a muxer. It is used
// by one goroutine only.
type unitWriter interface {
	write(m *gohlslib.Muxer, ntp time.Time, u *media.Unit) error
}

// mapping pairs a stream's tracks with the muxer's.
type mapping struct {
	tracks  []*gohlslib.Track // the muxer's tracks
	writers []unitWriter      // by media track index; nil for a skipped track
	skipped []string          // why tracks were left out, for the log
	// leading is the media track gohlslib segments on: the video track,
	// else the first audio track carried.
	leading int
}

// mapTracks builds the muxer tracks for a stream's tracks. HLS takes one
// video track (H.264) and, in fMP4, any number of audio tracks (AAC,
// Opus); MPEG-TS takes one H.264 and one AAC track. Other tracks are
// skipped and named in mapping.skipped, as is track drop (-1: none).
func mapTracks(tracks []media.Track, variant string, drop int) (mapping, error) {
	var mp mapping
	mp.writers = make([]unitWriter, len(tracks))
	haveVideo, haveAudio := false, false
	skip := func(i int, t media.Track, why string) {
		mp.skipped = append(mp.skipped, fmt.Sprintf("track %d (%s): %s", i, t.Codec, why))
	}
	for i, t := range tracks {
		if i == drop {
			skip(i, t, "no AAC companion of the Opus audio")
			continue
		}
		switch t.Codec {
		case media.H264:
			if haveVideo {
				skip(i, t, "HLS carries one video track")
				continue
			}
			ht := &gohlslib.Track{Codec: &codecs.H264{SPS: t.SPS, PPS: t.PPS}, ClockRate: 90000}
			mp.tracks = append(mp.tracks, ht)
			mp.writers[i] = &h264Writer{track: ht, sps: t.SPS, pps: t.PPS}
			haveVideo = true

		case media.AAC:
			if variant == VariantMPEGTS && haveAudio {
				skip(i, t, "MPEG-TS HLS carries one audio track")
				continue
			}
			var conf mpeg4audio.AudioSpecificConfig
			if err := conf.Unmarshal(t.Config); err != nil {
				skip(i, t, "bad AudioSpecificConfig: "+err.Error())
				continue
			}
			ht := &gohlslib.Track{Codec: &codecs.MPEG4Audio{Config: conf}, ClockRate: conf.SampleRate}
			mp.tracks = append(mp.tracks, ht)
			mp.writers[i] = &aacWriter{track: ht}
			haveAudio = true

		case media.Opus:
			if variant == VariantMPEGTS {
				skip(i, t, "MPEG-TS HLS has no Opus")
				continue
			}
			ch := t.Channels
			if ch <= 0 {
				ch = 2
			}
			ht := &gohlslib.Track{Codec: &codecs.Opus{ChannelCount: ch}, ClockRate: 48000}
			mp.tracks = append(mp.tracks, ht)
			mp.writers[i] = &opusWriter{track: ht}
			haveAudio = true

		default:
			skip(i, t, "codec not supported by HLS here")
		}
	}
	if len(mp.tracks) == 0 {
		return mp, errNoTracks
	}
	mp.leading = -1
	for i, w := range mp.writers {
		if _, video := w.(*h264Writer); video {
			mp.leading = i
			break
		} else if w != nil && mp.leading < 0 {
			mp.leading = i
		}
	}
	return mp, nil
}

// ticks converts a duration to a clock of rate Hz, rounding to the nearest
// tick, without overflowing for any realistic duration.
func ticks(d time.Duration, rate int) int64 {
	if d < 0 {
		return -ticks(-d, rate)
	}
	secs, rem := int64(d/time.Second), int64(d%time.Second)
	return secs*int64(rate) + (rem*int64(rate)+int64(time.Second)/2)/int64(time.Second)
}

// h264Writer turns AVCC access units into the NAL units gohlslib wants.
type h264Writer struct {
	track    *gohlslib.Track
	sps, pps []byte // the track's parameter sets, prepended to IDRs without them
	started  bool   // a keyframe was written
}

func (w *h264Writer) write(m *gohlslib.Muxer, ntp time.Time, u *media.Unit) error {
	nalus, err := codec.SplitAVCC(nil, u.Data)
	if err != nil {
		return fmt.Errorf("H.264 access unit: %w", err)
	}
	idr := codec.ContainsIDR(nalus)
	if !w.started {
		if !idr {
			return nil // wait for the first keyframe
		}
		w.started = true
	}
	if idr {
		nalus = withParameterSets(nalus, w.sps, w.pps)
	}
	if len(nalus) == 0 {
		return nil
	}
	return m.WriteH264(w.track, ntp, ticks(u.PTS, 90000), nalus)
}

// withParameterSets returns the NAL units of an IDR access unit with the
// given SPS and PPS in front of the slices (after an access unit
// delimiter) when it carries no SPS of its own: RTMP and FLV keep them out
// of band, and gohlslib needs them in band.
func withParameterSets(nalus [][]byte, sps, pps []byte) [][]byte {
	if len(sps) == 0 || len(pps) == 0 {
		return nalus
	}
	for _, n := range nalus {
		if codec.NALUType(n) == codec.NALUSPS {
			return nalus
		}
	}
	out := make([][]byte, 0, len(nalus)+2)
	rest := nalus
	if len(rest) > 0 && codec.NALUType(rest[0]) == codec.NALUAUD {
		out = append(out, rest[0])
		rest = rest[1:]
	}
	out = append(out, sps, pps)
	return append(out, rest...)
}

// aacWriter writes raw AAC frames.
type aacWriter struct {
	track *gohlslib.Track
}

func (w *aacWriter) write(m *gohlslib.Muxer, ntp time.Time, u *media.Unit) error {
	if len(u.Data) == 0 {
		return nil
	}
	return m.WriteMPEG4Audio(w.track, ntp, ticks(u.PTS, w.track.ClockRate), [][]byte{u.Data})
}

// opusWriter writes Opus packets.
type opusWriter struct {
	track *gohlslib.Track
}

func (w *opusWriter) write(m *gohlslib.Muxer, ntp time.Time, u *media.Unit) error {
	if len(u.Data) == 0 {
		return nil
	}
	return m.WriteOpus(w.track, ntp, ticks(u.PTS, 48000), [][]byte{u.Data})
}
