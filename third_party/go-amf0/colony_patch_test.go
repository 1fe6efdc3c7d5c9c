package amf0

import (
	"bytes"
	"errors"
	"testing"
)

// Colony patch: untrusted input must give an error, never a panic, an
// unbounded allocation or unbounded recursion.
func TestColonyPatchHostileInput(t *testing.T) {
	deep := bytes.Repeat([]byte{0x0a, 0, 0, 0, 1}, 10000) // strict arrays nested 10000 deep
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"strict array declaring 2^31-1 elements", []byte{0x0a, 0x7f, 0xff, 0xff, 0xff, 0x00, 0, 0, 0, 0, 0, 0, 0, 0}},
		{"nested ECMA array after a value", []byte{0x08, 0, 0, 0, 2, 0, 1, 'a', 0x00, 0x40, 0x1c, 0, 0, 0, 0, 0, 0, 0, 1, 'x', 0x08, 0, 0, 0, 0, 0, 0, 0x09, 0, 0, 0x09}},
		{"nesting 10000 deep", deep},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var v interface{}
			err := NewDecoder(bytes.NewReader(tc.in)).Decode(&v)
			if tc.name == "nested ECMA array after a value" {
				if err != nil {
					t.Fatalf("valid nested ECMA array: %v", err)
				}
				m := v.(ECMAArray)
				if _, ok := m["x"].(ECMAArray); !ok || m["a"] != 7.0 {
					t.Fatalf("decoded %#v", v)
				}
				return
			}
			if err == nil {
				t.Fatalf("decoded %T without error", v)
			}
			if tc.name == "nesting 10000 deep" && !errors.Is(err, ErrTooDeep) {
				t.Fatalf("err = %v, want ErrTooDeep", err)
			}
		})
	}
}
