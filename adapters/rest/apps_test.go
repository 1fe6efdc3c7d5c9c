package rest

import (
	"context"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/colony-live/colony/core/stream"
)

func TestApplications(t *testing.T) {
	e := newEnv(t, nil)
	e.check(t, []apiCase{
		{"GET", "/rest/v2/applications", "", 200, []string{`{"applications":["LiveApp","WebRTCAppEE"]}`}, nil},
		{"GET", "/rest/v2/applications/settings/LiveApp", "", 200, []string{
			`"appName":"LiveApp"`, `"hlsMuxingEnabled":true`, `"webRTCEnabled":true`, `"encoderSettings":[]`,
			`"publishTokenControlEnabled":false`, `"playJwtControlEnabled":false`, `"updateTime":0`}, nil},
		{"GET", "/rest/v2/applications/settings/NoApp", "", 404, nil, nil},
		{"GET", "/rest/v2/applications/settings/a..b", "", 404, nil, nil},
	})
}

func TestAppSettingsSave(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	e.clock.Set(now.Add(time.Minute))
	body := `{"appName":"LiveApp","hlsMuxingEnabled":false,"encoderSettings":` + ladderJSON + `,
		"publishTokenControlEnabled":true,"playTokenControlEnabled":true,"publishJwtControlEnabled":true,
		"jwtStreamSecretKey":"` + testStreamSecret + `","mp4MuxingEnabled":true}`
	e.check(t, []apiCase{{"PUT", "/rest/v2/applications/settings/LiveApp", body, 200, []string{`"success":true`}, nil}})
	got, err := e.settings.AppSettings(ctx, "LiveApp")
	want := stream.AppSettings{
		HLSMuxingEnabled: false, WebRTCEnabled: true, // absent: default
		Ladder:              []stream.Rendition{{Height: 720, VideoBitrate: 2_000_000, AudioBitrate: 128_000, ForceEncode: true}, {Height: 360, VideoBitrate: 800_000, AudioBitrate: 64_000}},
		PublishTokenControl: true, PlayTokenControl: true, PublishJWTControl: true, JWTSecret: testStreamSecret,
		UpdatedAt: now.Add(time.Minute),
	}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("saved settings = %+v, %v\nwant %+v", got, err, want)
	}
	e.check(t, []apiCase{
		{"GET", "/rest/v2/applications/settings/LiveApp", "", 200, []string{`"hlsMuxingEnabled":false`, `"encoderSettings":[{"height":720,"videoBitrate":2000000,"audioBitrate":128000,"forceEncode":true}`,
			`"jwtStreamSecretKey":"` + testStreamSecret + `"`, `"updateTime":` + strconv.FormatInt(now.Add(time.Minute).UnixMilli(), 10)}, nil},
		// The other app is untouched.
		{"GET", "/rest/v2/applications/settings/WebRTCAppEE", "", 200, []string{`"hlsMuxingEnabled":true`, `"encoderSettings":[]`}, nil},
		// Ant Media's POST does the same; absent fields go back to defaults.
		{"POST", "/rest/v2/applications/settings/LiveApp", `{"encoderSettings":[{"height":480,"videoBitrate":1000000}]}`, 200, nil, nil},
		{"GET", "/rest/v2/applications/settings/LiveApp", "", 200, []string{`"hlsMuxingEnabled":true`, `"encoderSettings":[{"height":480,`, `"publishTokenControlEnabled":false`, `"jwtStreamSecretKey":""`}, nil},
	})
	refused := []apiCase{
		{"PUT", "/rest/v2/applications/settings/LiveApp", `{"encoderSettings":[{"height":0}]}`, 400, []string{"invalid settings"}, nil},
		{"PUT", "/rest/v2/applications/settings/LiveApp", `{"encoderSettings":[{"height":720,"videoBitrate":-5}]}`, 400, nil, nil},
		{"PUT", "/rest/v2/applications/settings/LiveApp", `{"playJwtControlEnabled":true}`, 400, []string{"secret"}, nil},
		{"PUT", "/rest/v2/applications/settings/LiveApp", `{"jwtStreamSecretKey":"short"}`, 400, nil, nil},
		{"PUT", "/rest/v2/applications/settings/LiveApp", `{"appName":"WebRTCAppEE"}`, 400, []string{"appName"}, nil},
		{"PUT", "/rest/v2/applications/settings/LiveApp", `{"hlsMuxingEnabled":"yes"}`, 400, nil, nil},
		{"PUT", "/rest/v2/applications/settings/LiveApp", `{`, 400, []string{"malformed"}, nil},
		{"PUT", "/rest/v2/applications/settings/LiveApp", ``, 400, nil, nil},
		{"PUT", "/rest/v2/applications/settings/NoApp", `{}`, 404, nil, nil},
	}
	e.check(t, refused)
	if got, _ := e.settings.AppSettings(ctx, "LiveApp"); len(got.Ladder) != 1 || got.Ladder[0].Height != 480 {
		t.Fatalf("a refused save changed the settings: %+v", got)
	}
	e.settings.SetDown(true)
	e.check(t, []apiCase{
		{"GET", "/rest/v2/applications/settings/LiveApp", "", 503, nil, nil},
		{"PUT", "/rest/v2/applications/settings/LiveApp", `{}`, 503, nil, nil},
	})
}
