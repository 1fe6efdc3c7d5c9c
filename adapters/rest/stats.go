package rest

import (
	"net/http"

	"github.com/colony-live/colony/core/codec"
	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/core/stream"
)

// StreamInfo describes one rendition of a live stream: the source
// ("source") first, then each transcoded rendition ("720p", ...).
type StreamInfo struct {
	StreamID        string `json:"streamId"`
	Name            string `json:"name"`
	VideoWidth      int    `json:"videoWidth"`
	VideoHeight     int    `json:"videoHeight"`
	VideoBitrate    int    `json:"videoBitrate"`
	AudioBitrate    int    `json:"audioBitrate"`
	VideoCodec      string `json:"videoCodec,omitempty"`
	AudioCodec      string `json:"audioCodec,omitempty"`
	AudioSampleRate int    `json:"audioSampleRate,omitempty"`
	AudioChannels   int    `json:"audioChannels,omitempty"`
	VideoEnabled    bool   `json:"videoEnabled"`
	AudioEnabled    bool   `json:"audioEnabled"`
	Host            string `json:"host,omitempty"`
}

// streamInfo answers GET /{app}/rest/v2/broadcasts/{id}/stream-info: the
// renditions of a live stream, from its tracks when it is live on this
// node and from the broadcast record otherwise; [] when it is not live. In
// a cluster the call is answered by the stream's origin (atOrigin), which
// knows the renditions. The source's bitrate is the one measured here over
// the meter's window (audio and video), else the record's; a rendition's
// is its rung's.
func (s *Server) streamInfo(w http.ResponseWriter, r *http.Request, b stream.Broadcast) {
	key := b.Key
	out := []StreamInfo{}
	if !b.Live() {
		writeJSON(w, http.StatusOK, out)
		return
	}
	bitrate := b.Bitrate
	if bps, ok := s.meter.rate(key); ok {
		bitrate = bps
	}
	src := StreamInfo{
		StreamID: string(key.ID), Name: "source", VideoWidth: b.Width, VideoHeight: b.Height, VideoBitrate: bitrate,
		VideoCodec: b.VideoCodec, AudioCodec: b.AudioCodec, VideoEnabled: b.VideoCodec != "", AudioEnabled: b.AudioCodec != "",
		Host: b.OriginAddr,
	}
	if s.cfg.Streams != nil {
		if st, ok := s.cfg.Streams.LocalStream(key); ok {
			describeTracks(&src, st.Tracks())
		}
	}
	out = append(out, src)
	if rl, ok := s.cfg.Streams.(RenditionLister); ok {
		for _, rd := range rl.Renditions(key) {
			info := StreamInfo{
				StreamID: string(key.ID) + "_" + rd.Name, Name: rd.Name, VideoHeight: rd.Rung.Height,
				VideoBitrate: rd.Rung.VideoBitrate, AudioBitrate: rd.Rung.AudioBitrate, Host: b.OriginAddr,
			}
			if rd.Stream != nil {
				describeTracks(&info, rd.Stream.Tracks())
			}
			out = append(out, info)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// describeTracks fills info's codecs and sizes from tracks.
func describeTracks(info *StreamInfo, tracks []media.Track) {
	for _, t := range tracks {
		if t.IsVideo() {
			info.VideoEnabled, info.VideoCodec = true, string(t.Codec)
			w, h := t.Width, t.Height
			if (w == 0 || h == 0) && t.Codec == media.H264 && len(t.SPS) > 0 {
				if sw, sh, err := codec.SPSSize(t.SPS); err == nil {
					w, h = sw, sh
				}
			}
			if w > 0 && h > 0 {
				info.VideoWidth, info.VideoHeight = w, h
			}
			continue
		}
		info.AudioEnabled, info.AudioCodec = true, string(t.Codec)
		info.AudioSampleRate, info.AudioChannels = t.SampleRate, t.Channels
	}
}
