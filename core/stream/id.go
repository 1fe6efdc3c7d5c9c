// Package stream holds the broadcast domain: validated stream ids and app
// names, the broadcast record and its lifecycle. It does no I/O.
package stream

import (
	"errors"
	"fmt"
	"strings"
)

// MaxIDLen is the longest stream id accepted.
const MaxIDLen = 128

// MaxAppLen is the longest application name accepted.
const MaxAppLen = 64

// ErrInvalidID is returned (wrapped) for a stream id that cannot be used.
var ErrInvalidID = errors.New("invalid stream id")

// ErrInvalidApp is returned (wrapped) for an application name that cannot be used.
var ErrInvalidApp = errors.New("invalid application name")

// ID is a stream id that has been validated by ParseID: 1..128 characters of
// letters, digits, '_', '-' and '.', never "..", never a slash. Code that
// holds an ID need not check it again; it is safe in a file name or URL path.
type ID string

// App is a validated application name (such as LiveApp), with the same
// character rules as ID and at most MaxAppLen characters.
type App string

// ParseID validates s as a stream id.
func ParseID(s string) (ID, error) {
	if err := checkName(s, MaxIDLen); err != nil {
		return "", fmt.Errorf("%w %q: %s", ErrInvalidID, truncate(s), err.Error())
	}
	return ID(s), nil
}

// ParseApp validates s as an application name.
func ParseApp(s string) (App, error) {
	if err := checkName(s, MaxAppLen); err != nil {
		return "", fmt.Errorf("%w %q: %s", ErrInvalidApp, truncate(s), err.Error())
	}
	return App(s), nil
}

// nameError is a plain reason; the exported sentinels carry the category.
type nameError string

func (e nameError) Error() string { return string(e) }

func checkName(s string, max int) error {
	switch {
	case s == "":
		return nameError("empty")
	case len(s) > max:
		return nameError(fmt.Sprintf("longer than %d characters", max))
	case s == "." || strings.Contains(s, ".."):
		return nameError("dot segments are not allowed")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '_' || c == '-' || c == '.'
		if !ok {
			return nameError(fmt.Sprintf("character %q is not allowed (letters, digits, _ - . only)", c))
		}
	}
	return nil
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// Key names one stream of one application. The zero Key is invalid.
type Key struct {
	App App
	ID  ID
}

// ParseKey validates an application name and a stream id together.
func ParseKey(app, id string) (Key, error) {
	a, err := ParseApp(app)
	if err != nil {
		return Key{}, err
	}
	i, err := ParseID(id)
	if err != nil {
		return Key{}, err
	}
	return Key{App: a, ID: i}, nil
}

// String renders the key as "app/id".
func (k Key) String() string { return string(k.App) + "/" + string(k.ID) }

// KeyFromString parses the "app/id" form produced by String.
func KeyFromString(s string) (Key, error) {
	app, id, ok := strings.Cut(s, "/")
	if !ok {
		return Key{}, fmt.Errorf("%w: %q is not app/id", ErrInvalidID, truncate(s))
	}
	return ParseKey(app, id)
}
