package hls

import (
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2"
)

func TestDebugMPEGTSClient(t *testing.T) {
	ts := newTestServer(t, Config{Variant: VariantMPEGTS})
	ts.publish(t, mustKey(t, "LiveApp", "c"), 4*time.Second)
	c := &gohlslib.Client{URI: ts.url("/LiveApp/streams/c.m3u8"),
		OnDecodeError: func(err error) { t.Log("decode", err) },
	}
	c.OnTracks = func(tracks []*gohlslib.Track) error {
		for _, tr := range tracks {
			t.Logf("track %T", tr.Codec)
		}
		return nil
	}
	c.Start()
	time.Sleep(4 * time.Second)
	c.Close()
	t.Log("err", c.Wait2())
	_, main := ts.mainPlaylist(t, "c")
	_, b, _ := ts.get(t, main)
	t.Log(b)
}
