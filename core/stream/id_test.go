package stream

import (
	"errors"
	"strings"
	"testing"
)

func TestParseID(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"stream1", true},
		{"a", true},
		{"My_Stream-01.v2", true},
		{strings.Repeat("x", MaxIDLen), true},
		{strings.Repeat("x", MaxIDLen+1), false},
		{"", false},
		{".", false},
		{"..", false},
		{"a..b", false},
		{"../etc/passwd", false},
		{"a/b", false},
		{`a\b`, false},
		{"a b", false},
		{"a%2e", false},
		{"é", false},
		{"a\x00b", false},
		{"a?token=1", false},
	}
	for _, tt := range tests {
		id, err := ParseID(tt.in)
		if tt.ok {
			if err != nil || string(id) != tt.in {
				t.Errorf("ParseID(%q) = %q, %v; want ok", tt.in, id, err)
			}
			continue
		}
		if !errors.Is(err, ErrInvalidID) {
			t.Errorf("ParseID(%q) err = %v; want ErrInvalidID", tt.in, err)
		}
	}
}

func TestParseKeyAndString(t *testing.T) {
	k, err := ParseKey("LiveApp", "s1")
	if err != nil {
		t.Fatal(err)
	}
	if k.String() != "LiveApp/s1" {
		t.Fatalf("String = %q", k.String())
	}
	back, err := KeyFromString(k.String())
	if err != nil || back != k {
		t.Fatalf("KeyFromString = %v, %v", back, err)
	}
	if _, err := ParseKey("Live/App", "s1"); !errors.Is(err, ErrInvalidApp) {
		t.Fatalf("bad app err = %v", err)
	}
	if _, err := KeyFromString("noslash"); !errors.Is(err, ErrInvalidID) {
		t.Fatalf("KeyFromString(noslash) err = %v", err)
	}
}

func FuzzParseID(f *testing.F) {
	for _, s := range []string{"stream1", "..", "a/b", "a..b", "x.y-z_1", "%2e%2e", strings.Repeat("a", 130)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseID(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidID) {
				t.Fatalf("error %v does not wrap ErrInvalidID", err)
			}
			return
		}
		v := string(id)
		if v != s || v == "" || len(v) > MaxIDLen || strings.Contains(v, "..") || strings.ContainsAny(v, `/\`) {
			t.Fatalf("accepted unsafe id %q", v)
		}
		for _, c := range []byte(v) {
			if c < 0x21 || c > 0x7e {
				t.Fatalf("accepted byte %#x", c)
			}
		}
	})
}
