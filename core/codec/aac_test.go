package codec

import (
	"errors"
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks the package's tests for leaked goroutines.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestParseAACConfig(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		want    AACConfig
		wantErr bool
	}{
		{name: "LC 44.1k stereo", in: []byte{0x12, 0x10}, want: AACConfig{ObjectType: 2, SampleRate: 44100, Channels: 2}},
		{name: "LC 48k stereo", in: []byte{0x11, 0x90}, want: AACConfig{ObjectType: 2, SampleRate: 48000, Channels: 2}},
		{name: "LC 48k mono", in: []byte{0x11, 0x88}, want: AACConfig{ObjectType: 2, SampleRate: 48000, Channels: 1}},
		{name: "LC 8 channels", in: []byte{0x11, 0xb8}, want: AACConfig{ObjectType: 2, SampleRate: 48000, Channels: 8}},
		// SBR: core 24 kHz stereo, extension 48 kHz, then AAC-LC.
		{name: "HE-AAC", in: []byte{0x2b, 0x11, 0x88, 0x00}, want: AACConfig{ObjectType: 5, SampleRate: 24000, Channels: 2}},
		// PS: core 24 kHz mono, extension 48 kHz: decodes to stereo.
		{name: "HE-AACv2", in: []byte{0xeb, 0x09, 0x88, 0x00}, want: AACConfig{ObjectType: 29, SampleRate: 24000, Channels: 2}},
		{name: "explicit rate", in: []byte{0x17, 0x80, 0x3e, 0x80, 0x10}, want: AACConfig{ObjectType: 2, SampleRate: 32000, Channels: 2}},
		{name: "explicit rate zero", in: []byte{0x17, 0x80, 0x00, 0x00, 0x10}, wantErr: true},
		{name: "empty", in: nil, wantErr: true},
		{name: "one byte", in: []byte{0x12}, wantErr: true},
		{name: "AAC main", in: []byte{0x0a, 0x10}, wantErr: true},
		{name: "reserved rate index", in: []byte{0x16, 0x90}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseAACConfig(tc.in)
			if tc.wantErr {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("ParseAACConfig(% x) = %+v, %v; want ErrMalformed", tc.in, got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseAACConfig(% x): %v", tc.in, err)
			}
			if got != tc.want {
				t.Fatalf("ParseAACConfig(% x) = %+v, want %+v", tc.in, got, tc.want)
			}
		})
	}
}

func FuzzParseAACConfig(f *testing.F) {
	for _, seed := range [][]byte{
		{0x12, 0x10}, {0x11, 0x90}, {0x2b, 0x11, 0x88, 0x00}, {0xeb, 0x09, 0x88, 0x00},
		{0x17, 0x80, 0x3e, 0x80, 0x10}, {0x11, 0x80}, {}, {0xff, 0xff, 0xff},
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseAACConfig(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if c.SampleRate <= 0 || c.SampleRate > maxAACSampleRate || c.Channels < 0 || c.Channels > 8 {
			t.Fatalf("implausible config %+v from % x", c, b)
		}
	})
}
