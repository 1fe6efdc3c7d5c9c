package main

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports/portstest"
)

func TestLadders(t *testing.T) {
	ctx := context.Background()
	store, settings := portstest.NewMemStore(), portstest.NewMemSettings()
	cfg := defaultConfig()
	cfg.ABR = map[string][]RungConfig{"LiveApp": {{Height: 360, VideoBitrate: 500_000}}}
	ladder := ladders(cfg, store, settings)
	k := stream.Key{App: "LiveApp", ID: "s1"}
	heights := func(key stream.Key) []int {
		t.Helper()
		l, err := ladder(ctx, key)
		if err != nil {
			t.Fatalf("ladder(%s): %v", key, err)
		}
		var hs []int
		for _, r := range l {
			hs = append(hs, r.Height)
		}
		return hs
	}
	// No record, no app settings: the configuration's.
	if got := heights(k); !slices.Equal(got, []int{360}) {
		t.Fatalf("config ladder = %v", got)
	}
	if got := heights(stream.Key{App: "WebRTCAppEE", ID: "s1"}); got != nil {
		t.Fatalf("an app without a ladder got %v", got)
	}
	// The app's settings win over the configuration.
	app := stream.DefaultAppSettings()
	app.Ladder = []stream.Rendition{{Height: 480, VideoBitrate: 800_000}, {Height: 240, VideoBitrate: 300_000}}
	if err := settings.SaveAppSettings(ctx, "LiveApp", app); err != nil {
		t.Fatal(err)
	}
	if got := heights(k); !slices.Equal(got, []int{480, 240}) {
		t.Fatalf("app ladder = %v", got)
	}
	// A broadcast without its own ladder takes the app's; with one, its own.
	b := stream.NewBroadcast(k, time.Now())
	if err := store.CreateBroadcast(ctx, b); err != nil {
		t.Fatal(err)
	}
	if got := heights(k); !slices.Equal(got, []int{480, 240}) {
		t.Fatalf("ladder of a broadcast without one = %v", got)
	}
	k2 := stream.Key{App: "LiveApp", ID: "s2"}
	b2 := stream.NewBroadcast(k2, time.Now())
	b2.Ladder = []stream.Rendition{{Height: 720, VideoBitrate: 2_000_000}}
	if err := store.CreateBroadcast(ctx, b2); err != nil {
		t.Fatal(err)
	}
	if got := heights(k2); !slices.Equal(got, []int{720}) {
		t.Fatalf("broadcast ladder = %v", got)
	}
	// Without a settings store: the configuration's.
	if got, _ := ladders(cfg, store, nil)(ctx, k); len(got) != 1 || got[0].Height != 360 {
		t.Fatalf("ladder without settings = %+v", got)
	}
}

func TestValidateTranscoder(t *testing.T) {
	sum := strings.Repeat("ab", 32)
	tests := []struct {
		name string
		edit func(*Config)
		ok   bool
	}{
		{"defaults", func(*Config) {}, true},
		{"named plugin", func(c *Config) { c.Transcoder.Plugin = "nvenc" }, true},
		{"none", func(c *Config) { c.Transcoder.Plugin = "none" }, true},
		{"bad plugin name", func(c *Config) { c.Transcoder.Plugin = "../x" }, false},
		{"checksum", func(c *Config) { c.Transcoder.Checksums = map[string]string{"ffmpeg": sum} }, true},
		{"short checksum", func(c *Config) { c.Transcoder.Checksums = map[string]string{"ffmpeg": "abcd"} }, false},
		{"abr", func(c *Config) {
			c.ABR = map[string][]RungConfig{"LiveApp": {{Height: 480, VideoBitrate: 800_000, AudioBitrate: 64_000}}}
		}, true},
		{"abr bad app", func(c *Config) { c.ABR = map[string][]RungConfig{"a/b": {{Height: 480}}} }, false},
		{"abr bad rung", func(c *Config) { c.ABR = map[string][]RungConfig{"LiveApp": {{Height: 0}}} }, false},
		{"abr duplicate", func(c *Config) {
			c.ABR = map[string][]RungConfig{"LiveApp": {{Height: 480, VideoBitrate: 1}, {Height: 480, VideoBitrate: 2}}}
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := defaultConfig()
			tt.edit(&c)
			if err := c.validate(); (err == nil) != tt.ok {
				t.Fatalf("validate = %v, want ok %v", err, tt.ok)
			}
		})
	}
}

func TestPluginFileName(t *testing.T) {
	for path, want := range map[string]string{
		"/x/colony-transcoder-ffmpeg": "ffmpeg", "colony-transcoder-my_gpu-2": "my_gpu-2",
		"/x/colony-transcoder-": "", "/x/colony-transcoder-a.b": "", "/x/ffmpeg": "", "/x/colony-transcoder-a b": "",
	} {
		got, ok := pluginFileName(path)
		if ok != (want != "") || (ok && got != want) {
			t.Errorf("pluginFileName(%q) = %q, %v; want %q", path, got, ok, want)
		}
	}
}
