package stream

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestAppSettingsValidate(t *testing.T) {
	secret := strings.Repeat("s", MinJWTSecretLen)
	tests := []struct {
		name string
		s    AppSettings
		ok   bool
	}{
		{"defaults", DefaultAppSettings(), true},
		{"ladder", AppSettings{Ladder: []Rendition{{Height: 720, VideoBitrate: 2_000_000, AudioBitrate: 128_000}, {Height: 360, VideoBitrate: 800_000}}}, true},
		{"zero height", AppSettings{Ladder: []Rendition{{Height: 0}}}, false},
		{"too tall", AppSettings{Ladder: []Rendition{{Height: MaxRungHeight + 1}}}, false},
		{"negative video bitrate", AppSettings{Ladder: []Rendition{{Height: 360, VideoBitrate: -1}}}, false},
		{"negative audio bitrate", AppSettings{Ladder: []Rendition{{Height: 360, AudioBitrate: -1}}}, false},
		{"huge bitrate", AppSettings{Ladder: []Rendition{{Height: 360, VideoBitrate: MaxRungBitrate + 1}}}, false},
		{"duplicate height", AppSettings{Ladder: []Rendition{{Height: 360}, {Height: 360}}}, false},
		{"too many rungs", AppSettings{Ladder: make([]Rendition, MaxRungs+1)}, false},
		{"jwt without secret", AppSettings{PlayJWTControl: true}, false},
		{"jwt short secret", AppSettings{PublishJWTControl: true, JWTSecret: "short"}, false},
		{"short secret alone", AppSettings{JWTSecret: "short"}, false},
		{"jwt with secret", AppSettings{PublishJWTControl: true, PlayJWTControl: true, JWTSecret: secret}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.s.Validate()
			if tt.ok && err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if !tt.ok && !errors.Is(err, ErrInvalidSettings) {
				t.Fatalf("Validate = %v, want ErrInvalidSettings", err)
			}
		})
	}
}

func TestParseTokenType(t *testing.T) {
	for _, s := range []string{"publish", "play"} {
		if got, err := ParseTokenType(s); err != nil || string(got) != s {
			t.Errorf("ParseTokenType(%q) = %q, %v", s, got, err)
		}
	}
	for _, s := range []string{"", "Play", "both", strings.Repeat("x", 100)} {
		if _, err := ParseTokenType(s); !errors.Is(err, ErrInvalidTokenType) {
			t.Errorf("ParseTokenType(%q) err = %v, want ErrInvalidTokenType", s, err)
		}
	}
}

func TestTokenCheck(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	k := Key{App: "LiveApp", ID: "s1"}
	tok := Token{ID: "abc", Key: k, Type: TokenPlay, ExpiresAt: now.Add(time.Minute)}
	tests := []struct {
		name string
		key  Key
		typ  TokenType
		at   time.Time
		want error
	}{
		{"valid", k, TokenPlay, now, nil},
		{"other stream", Key{App: "LiveApp", ID: "s2"}, TokenPlay, now, ErrTokenMismatch},
		{"other app", Key{App: "WebRTCAppEE", ID: "s1"}, TokenPlay, now, ErrTokenMismatch},
		{"other type", k, TokenPublish, now, ErrTokenMismatch},
		{"at expiry", k, TokenPlay, now.Add(time.Minute), ErrTokenExpired},
		{"after expiry", k, TokenPlay, now.Add(time.Hour), ErrTokenExpired},
	}
	for _, tt := range tests {
		err := tok.Check(tt.key, tt.typ, tt.at)
		if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
			t.Errorf("%s: Check = %v, want %v", tt.name, err, tt.want)
		}
	}
}

func FuzzParseTokenType(f *testing.F) {
	for _, s := range []string{"publish", "play", "", "PLAY", "publish\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseTokenType(s)
		if err == nil && got != TokenPublish && got != TokenPlay {
			t.Fatalf("ParseTokenType(%q) = %q", s, got)
		}
		if err != nil && got != "" {
			t.Fatalf("ParseTokenType(%q) returned %q with an error", s, got)
		}
	})
}
