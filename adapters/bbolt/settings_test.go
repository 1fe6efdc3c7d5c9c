package bbolt

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
	"github.com/colony-live/colony/ports/portstest"
)

func TestSettingsConformance(t *testing.T) {
	portstest.RunSettings(t, func(t *testing.T) ports.Settings {
		s := openAt(t, filepath.Join(t.TempDir(), "colony.db"))
		t.Cleanup(func() {
			if err := s.Close(context.Background()); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return s
	})
}

func TestSettingsSurviveReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "colony.db")
	set := stream.AppSettings{HLSMuxingEnabled: true, Ladder: []stream.Rendition{{Height: 480, VideoBitrate: 1_000_000}}, PlayTokenControl: true}
	tok := stream.Token{ID: "t1", Key: stream.Key{App: "LiveApp", ID: "s1"}, Type: stream.TokenPlay, ExpiresAt: time.Unix(1_800_000_000, 0).UTC()}
	s := openAt(t, path)
	if err := s.SaveAppSettings(ctx, "LiveApp", set); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	s = openAt(t, path)
	t.Cleanup(func() { _ = s.Close(ctx) })
	got, err := s.AppSettings(ctx, "LiveApp")
	if err != nil || !got.PlayTokenControl || len(got.Ladder) != 1 || got.Ladder[0].Height != 480 {
		t.Fatalf("AppSettings after reopen = %+v, %v", got, err)
	}
	gotTok, err := s.Token(ctx, "t1")
	if err != nil || gotTok.Key != tok.Key || !gotTok.ExpiresAt.Equal(tok.ExpiresAt) {
		t.Fatalf("Token after reopen = %+v, %v", gotTok, err)
	}
}
