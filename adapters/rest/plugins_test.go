package rest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
)

// fakePlugins is a Plugins with ffmpeg (works) and nvenc (no GPU).
type fakePlugins struct {
	mu     sync.Mutex
	active string
}

func (f *fakePlugins) Plugins() ([]PluginInfo, error) {
	return []PluginInfo{{Name: "ffmpeg", Path: "/opt/colony/colony-transcoder-ffmpeg", SHA256: "ab12"},
		{Name: "nvenc", Path: "/opt/colony/colony-transcoder-nvenc", SHA256: "cd34"}}, nil
}

func (f *fakePlugins) Active() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.active
}

func (f *fakePlugins) Probe(_ context.Context, name string) (PluginProbe, error) {
	switch name {
	case "ffmpeg":
		return PluginProbe{Name: name, Encoder: "libx264", OK: true}, nil
	case "nvenc":
		return PluginProbe{Name: name, Encoder: "h264_nvenc", Hardware: true, Reason: "no NVIDIA GPU"}, nil
	case "broken":
		return PluginProbe{}, errors.New("plugin exited at start")
	}
	return PluginProbe{}, fmt.Errorf("%w: %q", ErrUnknownPlugin, name)
}

func (f *fakePlugins) Activate(ctx context.Context, name string) error {
	pr, err := f.Probe(ctx, name)
	if err != nil {
		return err
	}
	if !pr.OK {
		return fmt.Errorf("%w: %s: %s", ErrPluginUnavailable, name, pr.Reason)
	}
	f.mu.Lock()
	f.active = name
	f.mu.Unlock()
	return nil
}

func TestPluginEndpoints(t *testing.T) {
	p := &fakePlugins{}
	e := newEnv(t, func(c *Config) { c.Plugins = p })
	e.check(t, []apiCase{
		{method: "GET", path: "/rest/v2/plugins", code: 200, contains: []string{`"active":""`, `"name":"ffmpeg"`, `"sha256":"cd34"`}},
		{method: "GET", path: "/rest/v2/plugins/ffmpeg/probe", code: 200, contains: []string{`"ok":true`, `"encoder":"libx264"`, `"codecs":[]`}},
		{method: "GET", path: "/rest/v2/plugins/nvenc/probe", code: 200, contains: []string{`"ok":false`, `"reason":"no NVIDIA GPU"`}},
		{method: "GET", path: "/rest/v2/plugins/nope/probe", code: 404},
		{method: "GET", path: "/rest/v2/plugins/broken/probe", code: 502, contains: []string{"exited"}},
		{method: "PUT", path: "/rest/v2/plugins/active", body: `{"name":"nvenc"}`, code: 409, contains: []string{"no NVIDIA GPU"}},
		{method: "PUT", path: "/rest/v2/plugins/active", body: `{"name":"nope"}`, code: 404},
		{method: "PUT", path: "/rest/v2/plugins/active", body: `{}`, code: 400},
		{method: "PUT", path: "/rest/v2/plugins/active", body: `{"name":`, code: 400},
		{method: "PUT", path: "/rest/v2/plugins/active", body: `{"name":"ffmpeg"}`, code: 200, contains: []string{`"success":true`, `"dataId":"ffmpeg"`}},
		{method: "GET", path: "/rest/v2/plugins", code: 200, contains: []string{`"active":"ffmpeg"`}},
	})
	if p.Active() != "ffmpeg" {
		t.Fatalf("active = %q", p.Active())
	}
}

func TestPluginEndpointsWithoutHost(t *testing.T) {
	e := newEnv(t, nil)
	e.check(t, []apiCase{
		{method: "GET", path: "/rest/v2/plugins", code: 501},
		{method: "GET", path: "/rest/v2/plugins/ffmpeg/probe", code: 501},
		{method: "PUT", path: "/rest/v2/plugins/active", body: `{"name":"ffmpeg"}`, code: 501},
	})
}
