package pluginhost

import (
	"time"

	"github.com/colony-live/colony/core/media"
	transcoderv1 "github.com/colony-live/colony/plugins/transcoder/v1"
)

func wireTrack(t media.Track) *transcoderv1.Track {
	return &transcoderv1.Track{
		Codec: string(t.Codec), ClockRate: uint32(max(t.ClockRate, 0)), Sps: t.SPS, Pps: t.PPS, Config: t.Config,
		Width: uint32(max(t.Width, 0)), Height: uint32(max(t.Height, 0)),
		SampleRate: uint32(max(t.SampleRate, 0)), Channels: uint32(max(t.Channels, 0)),
	}
}

func mediaTrack(t *transcoderv1.Track) media.Track {
	return media.Track{
		Codec: media.Codec(t.GetCodec()), ClockRate: int(t.GetClockRate()), SPS: t.GetSps(), PPS: t.GetPps(),
		Config: t.GetConfig(), Width: int(t.GetWidth()), Height: int(t.GetHeight()),
		SampleRate: int(t.GetSampleRate()), Channels: int(t.GetChannels()),
	}
}

func wireUnit(track int, u *media.Unit) *transcoderv1.Unit {
	return &transcoderv1.Unit{Track: uint32(track), Pts: int64(u.PTS), Dts: int64(u.DTS), Key: u.Key, Data: u.Data}
}

func mediaUnit(u *transcoderv1.Unit) *media.Unit {
	return &media.Unit{Track: int(u.GetTrack()), PTS: time.Duration(u.GetPts()), DTS: time.Duration(u.GetDts()),
		Key: u.GetKey(), Data: u.GetData()}
}
