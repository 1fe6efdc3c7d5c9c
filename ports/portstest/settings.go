package portstest

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
)

// RunSettings is the conformance suite of ports.Settings (application
// settings and one-time tokens). open follows Run's rules: a fresh, empty
// store for each subtest, cleaned up with t.Cleanup.
func RunSettings(t *testing.T, open func(t *testing.T) ports.Settings) {
	t.Helper()
	t.Run("AppSettings", func(t *testing.T) { runAppSettings(t, open(t)) })
	t.Run("Tokens", func(t *testing.T) { runTokens(t, open(t)) })
	t.Run("TokenDeleteRace", func(t *testing.T) { runTokenDeleteRace(t, open(t)) })
}

func normSettings(s stream.AppSettings) stream.AppSettings {
	s.UpdatedAt = normTime(s.UpdatedAt)
	if len(s.Ladder) == 0 {
		s.Ladder = nil
	} else {
		s.Ladder = slices.Clone(s.Ladder)
	}
	return s
}

func runAppSettings(t *testing.T, s ports.Settings) {
	c := ctx(t)
	got, err := s.AppSettings(c, "LiveApp")
	if err != nil {
		t.Fatalf("AppSettings of an unsaved app: %v", err)
	}
	if want := stream.DefaultAppSettings(); !reflect.DeepEqual(normSettings(got), normSettings(want)) {
		t.Fatalf("AppSettings of an unsaved app = %+v, want the defaults %+v", got, want)
	}

	full := stream.AppSettings{
		HLSMuxingEnabled: false, WebRTCEnabled: true,
		Ladder: []stream.Rendition{
			{Height: 720, VideoBitrate: 2_500_000, AudioBitrate: 128_000, ForceEncode: true},
			{Height: 360, VideoBitrate: 800_000, AudioBitrate: 64_000},
		},
		PublishTokenControl: true, PlayTokenControl: false,
		PublishJWTControl: false, PlayJWTControl: true,
		JWTSecret: "0123456789abcdef0123456789abcdef",
		UpdatedAt: at(time.Minute),
	}
	if err := s.SaveAppSettings(c, "LiveApp", full); err != nil {
		t.Fatalf("SaveAppSettings: %v", err)
	}
	got, err = s.AppSettings(c, "LiveApp")
	if err != nil || !reflect.DeepEqual(normSettings(got), normSettings(full)) {
		t.Fatalf("AppSettings after save = %+v, %v; want %+v", got, err, full)
	}
	// Another app keeps its defaults.
	other, err := s.AppSettings(c, "WebRTCAppEE")
	if err != nil || !reflect.DeepEqual(normSettings(other), normSettings(stream.DefaultAppSettings())) {
		t.Fatalf("AppSettings of another app = %+v, %v; want defaults", other, err)
	}
	// Saving replaces the whole record: an empty ladder stays empty.
	bare := stream.AppSettings{HLSMuxingEnabled: true, UpdatedAt: at(2 * time.Minute)}
	if err := s.SaveAppSettings(c, "LiveApp", bare); err != nil {
		t.Fatalf("SaveAppSettings again: %v", err)
	}
	got, err = s.AppSettings(c, "LiveApp")
	if err != nil || !reflect.DeepEqual(normSettings(got), normSettings(bare)) {
		t.Fatalf("AppSettings after replacing = %+v, %v; want %+v", got, err, bare)
	}
}

func runTokens(t *testing.T, s ports.Settings) {
	c := ctx(t)
	k1 := stream.Key{App: "LiveApp", ID: "s1"}
	k2 := stream.Key{App: "WebRTCAppEE", ID: "s1"} // same id, other app
	toks := []stream.Token{
		{ID: "tok-a", Key: k1, Type: stream.TokenPublish, ExpiresAt: at(time.Hour)},
		{ID: "tok-b", Key: k1, Type: stream.TokenPlay, ExpiresAt: at(2 * time.Hour), RoomID: "room1"},
		{ID: "tok-c", Key: k2, Type: stream.TokenPlay, ExpiresAt: at(time.Hour)},
	}
	for _, tok := range toks {
		if err := s.CreateToken(c, tok); err != nil {
			t.Fatalf("CreateToken %s: %v", tok.ID, err)
		}
	}
	dup := toks[0]
	dup.Key = k2
	if err := s.CreateToken(c, dup); !errors.Is(err, ports.ErrConflict) {
		t.Fatalf("CreateToken with a used id: err = %v, want ErrConflict", err)
	}
	for _, want := range toks {
		got, err := s.Token(c, want.ID)
		got.ExpiresAt = normTime(got.ExpiresAt)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("Token %s = %+v, %v; want %+v", want.ID, got, err, want)
		}
	}
	if _, err := s.Token(c, "nosuch"); !errors.Is(err, ports.ErrNotFound) {
		t.Fatalf("Token of an unknown id: err = %v, want ErrNotFound", err)
	}
	if err := s.DeleteToken(c, "tok-a"); err != nil {
		t.Fatalf("DeleteToken: %v", err)
	}
	if err := s.DeleteToken(c, "tok-a"); !errors.Is(err, ports.ErrNotFound) {
		t.Fatalf("DeleteToken twice: err = %v, want ErrNotFound", err)
	}
	if _, err := s.Token(c, "tok-a"); !errors.Is(err, ports.ErrNotFound) {
		t.Fatalf("Token after delete: err = %v, want ErrNotFound", err)
	}
	if err := s.CreateToken(c, toks[0]); err != nil {
		t.Fatalf("CreateToken after delete: %v", err)
	}
	n, err := s.DeleteTokens(c, k1)
	if err != nil || n != 2 {
		t.Fatalf("DeleteTokens(%s) = %d, %v; want 2", k1, n, err)
	}
	for _, id := range []string{"tok-a", "tok-b"} {
		if _, err := s.Token(c, id); !errors.Is(err, ports.ErrNotFound) {
			t.Fatalf("Token %s after DeleteTokens: err = %v, want ErrNotFound", id, err)
		}
	}
	if _, err := s.Token(c, "tok-c"); err != nil {
		t.Fatalf("DeleteTokens removed another app's token: %v", err)
	}
	if n, err := s.DeleteTokens(c, k1); err != nil || n != 0 {
		t.Fatalf("DeleteTokens with none left = %d, %v; want 0", n, err)
	}
}

// runTokenDeleteRace checks that a one-time token is used up once: of
// racers concurrent deletes, exactly one succeeds.
func runTokenDeleteRace(t *testing.T, s ports.Settings) {
	c := ctx(t)
	tok := stream.Token{ID: "once", Key: stream.Key{App: "LiveApp", ID: "s1"}, Type: stream.TokenPlay, ExpiresAt: at(time.Hour)}
	if err := s.CreateToken(c, tok); err != nil {
		t.Fatalf("CreateToken: %v", err)
	}
	start := make(chan struct{})
	errs := make([]error, racers)
	var wg sync.WaitGroup
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = s.DeleteToken(c, tok.ID)
		}()
	}
	close(start)
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, ports.ErrNotFound):
			t.Errorf("deleter %d: err = %v, want nil or ErrNotFound", i, err)
		}
	}
	if won != 1 {
		t.Fatalf("%d of %d concurrent deletes of one token succeeded, want 1: %s", won, racers, fmt.Sprint(errs))
	}
}
