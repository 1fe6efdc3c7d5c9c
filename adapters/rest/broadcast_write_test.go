package rest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
)

const ladderJSON = `[{"height":720,"videoBitrate":2000000,"audioBitrate":128000,"forceEncode":true},{"height":360,"videoBitrate":800000,"audioBitrate":64000,"forceEncode":false}]`

func TestCreateBroadcast(t *testing.T) {
	e := newEnv(t, nil)
	const p = "/LiveApp/rest/v2/broadcasts/create"
	e.check(t, []apiCase{
		{"POST", p, `{"streamId":"cam1","name":"Camera 1","encoderSettingsList":` + ladderJSON + `,"description":"ignored","publicStream":true}`, 200,
			[]string{`"streamId":"cam1"`, `"name":"Camera 1"`, `"status":"created"`, `"type":"liveStream"`, `"encoderSettingsList":[{"height":720`}, nil},
		{"POST", p, `{"streamId":"cam1"}`, 400, []string{"already in use"}, nil},
		{"POST", p, `{"streamId":"bad/id"}`, 400, []string{"invalid stream id"}, nil},
		{"POST", p, `{"streamId":"x..y"}`, 400, nil, nil},
		{"POST", p, `{"streamId":"cam2","encoderSettingsList":[{"height":0}]}`, 400, []string{"height"}, nil},
		{"POST", p, `{"streamId":"cam2","encoderSettingsList":[{"height":360},{"height":360}]}`, 400, nil, nil},
		{"POST", p, `{"streamId":"cam2","type":"ipCamera"}`, 400, []string{"not supported"}, nil},
		{"POST", p, `{"streamId":`, 400, []string{"malformed JSON"}, nil},
		{"POST", p, `{"streamId":"cam2"} {}`, 400, []string{"trailing"}, nil},
		{"POST", p, `["array"]`, 400, nil, nil},
		{"POST", p, `{"streamId":42}`, 400, nil, nil},
		{"POST", "/NoApp/rest/v2/broadcasts/create", `{}`, 404, []string{"unknown application"}, nil},
	})
	b, err := e.store.Broadcast(context.Background(), stream.Key{App: "LiveApp", ID: "cam1"})
	if err != nil {
		t.Fatal(err)
	}
	want := []stream.Rendition{{Height: 720, VideoBitrate: 2_000_000, AudioBitrate: 128_000, ForceEncode: true}, {Height: 360, VideoBitrate: 800_000, AudioBitrate: 64_000}}
	if !reflect.DeepEqual(b.Ladder, want) || b.Name != "Camera 1" || !b.CreatedAt.Equal(now) {
		t.Fatalf("stored broadcast = %+v, want ladder %+v", b, want)
	}
	if _, err := e.store.Broadcast(context.Background(), stream.Key{App: "LiveApp", ID: "cam2"}); !errors.Is(err, ports.ErrNotFound) {
		t.Fatalf("a refused create stored cam2: %v", err)
	}

	// No body, an empty object and null all create a broadcast with a generated id.
	seen := map[string]bool{}
	for _, body := range []string{"", "{}", "null"} {
		code, resp := e.do(t, "POST", p, body)
		var got Broadcast
		if err := json.Unmarshal([]byte(resp), &got); code != 200 || err != nil {
			t.Fatalf("create with body %q = %d %s", body, code, resp)
		}
		if _, err := stream.ParseID(got.StreamID); err != nil || len(got.StreamID) != 12 || seen[got.StreamID] || got.Name != got.StreamID {
			t.Fatalf("generated broadcast = %+v", got)
		}
		seen[got.StreamID] = true
		if _, err := e.store.Broadcast(context.Background(), stream.Key{App: "LiveApp", ID: stream.ID(got.StreamID)}); err != nil {
			t.Fatalf("generated broadcast not stored: %v", err)
		}
	}
}

func TestUpdateBroadcast(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	k := stream.Key{App: "LiveApp", ID: "gamma"}
	e.clock.Set(now.Add(time.Hour))
	e.check(t, []apiCase{
		{"PUT", "/LiveApp/rest/v2/broadcasts/gamma", `{"name":"Renamed","encoderSettingsList":` + ladderJSON + `}`, 200, []string{`"success":true`, `"dataId":"gamma"`}, nil},
	})
	b, _ := e.store.Broadcast(ctx, k)
	if b.Name != "Renamed" || len(b.Ladder) != 2 || !b.UpdatedAt.Equal(now.Add(time.Hour)) {
		t.Fatalf("after update: %+v", b)
	}
	// Absent fields stay; an empty list clears the ladder.
	e.check(t, []apiCase{{"PUT", "/LiveApp/rest/v2/broadcasts/gamma", `{"streamId":"gamma"}`, 200, nil, nil}})
	if b, _ = e.store.Broadcast(ctx, k); b.Name != "Renamed" || len(b.Ladder) != 2 {
		t.Fatalf("an update with no fields changed the record: %+v", b)
	}
	e.check(t, []apiCase{{"PUT", "/LiveApp/rest/v2/broadcasts/gamma", `{"encoderSettingsList":[]}`, 200, nil, nil}})
	if b, _ = e.store.Broadcast(ctx, k); b.Name != "Renamed" || len(b.Ladder) != 0 {
		t.Fatalf("an empty ladder did not clear it: %+v", b)
	}
	e.check(t, []apiCase{
		{"PUT", "/LiveApp/rest/v2/broadcasts/nosuch", `{"name":"x"}`, 404, []string{"not found"}, nil},
		{"PUT", "/LiveApp/rest/v2/broadcasts/gamma", `{"name":`, 400, []string{"malformed JSON"}, nil},
		{"PUT", "/LiveApp/rest/v2/broadcasts/gamma", ``, 400, []string{"empty body"}, nil},
		{"PUT", "/LiveApp/rest/v2/broadcasts/gamma", `{"encoderSettingsList":[{"height":-1}]}`, 400, nil, nil},
		{"PUT", "/LiveApp/rest/v2/broadcasts/bad..id", `{}`, 400, nil, nil},
		{"PUT", "/NoApp/rest/v2/broadcasts/gamma", `{}`, 404, nil, nil},
	})
	if b, _ = e.store.Broadcast(ctx, k); b.Name != "Renamed" || len(b.Ladder) != 0 {
		t.Fatalf("a refused update changed the record: %+v", b)
	}
}

func TestDeleteBroadcast(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	tok := stream.Token{ID: "t1", Key: stream.Key{App: "LiveApp", ID: "gamma"}, Type: stream.TokenPlay, ExpiresAt: now.Add(time.Hour)}
	if err := e.settings.CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	// beta is live on another node.
	if _, err := e.store.UpdateBroadcast(ctx, stream.Key{App: "LiveApp", ID: "beta"}, false, now, func(b *stream.Broadcast) error {
		b.OriginNode = "n9"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	e.check(t, []apiCase{
		{"DELETE", "/LiveApp/rest/v2/broadcasts/gamma", "", 200, []string{`"success":true`}, nil},
		{"DELETE", "/LiveApp/rest/v2/broadcasts/gamma", "", 404, nil, nil},
		{"DELETE", "/LiveApp/rest/v2/broadcasts/alpha", "", 200, nil, nil}, // published here: stopped, then deleted
		{"DELETE", "/LiveApp/rest/v2/broadcasts/beta", "", 409, []string{"n9"}, nil},
		{"DELETE", "/LiveApp/rest/v2/broadcasts/bad..id", "", 400, nil, nil},
		{"GET", "/LiveApp/rest/v2/broadcasts/count", "", 200, []string{`"number":1`}, nil},
	})
	if _, err := e.settings.Token(ctx, "t1"); !errors.Is(err, ports.ErrNotFound) {
		t.Fatalf("the deleted broadcast's token survived: %v", err)
	}
	if !e.node.wasStopped(stream.Key{App: "LiveApp", ID: "alpha"}) {
		t.Fatal("deleting a broadcast published here did not stop it")
	}
}

func TestPagingCapsAt50(t *testing.T) {
	e := newEnv(t, nil)
	for i := range 60 {
		if err := e.store.CreateBroadcast(context.Background(), stream.NewBroadcast(stream.Key{App: "WebRTCAppEE", ID: stream.ID(fmt.Sprintf("s%02d", i))}, now)); err != nil {
			t.Fatal(err)
		}
	}
	for path, want := range map[string]int{"/WebRTCAppEE/rest/v2/broadcasts/list/0/1000": 50, "/WebRTCAppEE/rest/v2/broadcasts/list/55/50": 5, "/WebRTCAppEE/rest/v2/broadcasts/list/60/50": 0} {
		code, body := e.do(t, "GET", path, "")
		var list []Broadcast
		if err := json.Unmarshal([]byte(body), &list); code != 200 || err != nil || len(list) != want {
			t.Errorf("GET %s = %d, %d items (%v), want %d", path, code, len(list), err, want)
		}
	}
	e.check(t, []apiCase{
		{"GET", "/WebRTCAppEE/rest/v2/broadcasts/list/0/99999999999999999999", "", 400, nil, nil},
		{"GET", "/WebRTCAppEE/rest/v2/broadcasts/count", "", 200, []string{`"number":60`}, nil},
	})
}

func FuzzBroadcastInput(f *testing.F) {
	for _, s := range []string{`{}`, `null`, `{"streamId":"a","name":"n","encoderSettingsList":` + ladderJSON + `}`, `{"encoderSettingsList":[{"height":-1}]}`, `{"type":"ipCamera"}`, `[`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var in BroadcastInput
		if json.Unmarshal([]byte(s), &in) != nil {
			return
		}
		if in.check() != nil {
			return
		}
		ladder, err := in.ladder()
		if err != nil {
			return
		}
		if err := stream.ValidateLadder(ladder); err != nil {
			t.Fatalf("ladder() returned an invalid ladder %+v: %v", ladder, err)
		}
		if in.EncoderSettings != nil && len(ladder) != len(*in.EncoderSettings) {
			t.Fatalf("ladder() lost rungs: %d of %d", len(ladder), len(*in.EncoderSettings))
		}
	})
}
