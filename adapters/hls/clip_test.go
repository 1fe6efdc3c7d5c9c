package hls

import (
	"testing"

	"github.com/colony-live/colony/core/media"
)

func TestClipShape(t *testing.T) {
	c := testClip(t)
	if c.tracks[0].Width != 320 || c.tracks[0].Height != 240 {
		t.Fatalf("video size %dx%d", c.tracks[0].Width, c.tracks[0].Height)
	}
	var video, audio, keys int
	bframes := false
	for _, u := range c.units {
		if u.Track == 0 {
			video++
			if u.Key {
				keys++
			}
			if u.PTS != u.DTS {
				bframes = true
			}
		} else {
			audio++
		}
	}
	t.Logf("video %d units (%d keys), audio %d units, tracks %+v", video, keys, audio, c.tracks[1].Codec)
	if video != 96 || keys < 3 || audio < 140 || !bframes || c.tracks[1].Codec != media.AAC {
		t.Fatalf("unexpected clip: video %d keys %d audio %d bframes %v", video, keys, audio, bframes)
	}
}
