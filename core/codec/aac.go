package codec

import (
	"fmt"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
)

// maxAACSampleRate bounds the sample rate accepted from an explicit
// (escape-coded) AudioSpecificConfig frequency.
const maxAACSampleRate = 192000

// AACConfig is what Colony needs from an AAC AudioSpecificConfig.
type AACConfig struct {
	// ObjectType is the audio object type (2 = AAC-LC, 5 = SBR, 29 = PS).
	ObjectType int
	// SampleRate is the core sample rate in Hz, which is also the clock rate
	// of the AAC frames (1024 samples each).
	SampleRate int
	// Channels is the channel count; 0 when the layout is defined by a
	// program config element (channel configuration 0).
	Channels int
}

// ParseAACConfig parses an AAC AudioSpecificConfig (ISO/IEC 14496-3
// 1.6.2.1), the payload of an RTMP/FLV AAC sequence header. Only AAC-LC,
// HE-AAC (SBR) and HE-AACv2 (PS) are accepted.
func ParseAACConfig(b []byte) (AACConfig, error) {
	var asc mpeg4audio.AudioSpecificConfig
	if err := asc.Unmarshal(b); err != nil {
		return AACConfig{}, fmt.Errorf("%w: AudioSpecificConfig: %w", ErrMalformed, err)
	}
	if asc.SampleRate <= 0 || asc.SampleRate > maxAACSampleRate {
		return AACConfig{}, fmt.Errorf("%w: AudioSpecificConfig: sample rate %d out of range", ErrMalformed, asc.SampleRate)
	}
	c := AACConfig{ObjectType: int(asc.Type), SampleRate: asc.SampleRate, Channels: asc.ChannelCount}
	if asc.ExtensionType != 0 {
		c.ObjectType = int(asc.ExtensionType)
	}
	if asc.ExtensionType == mpeg4audio.ObjectTypePS && c.Channels == 1 {
		// Parametric stereo decodes a mono core into two channels.
		c.Channels = 2
	}
	return c, nil
}
