package ports

import (
	"context"

	"github.com/colony-live/colony/core/stream"
)

// AppSettingsStore keeps each application's settings. In a cluster every
// node reads the same record.
type AppSettingsStore interface {
	// AppSettings returns app's saved settings, or stream.DefaultAppSettings()
	// when none were ever saved.
	AppSettings(ctx context.Context, app stream.App) (stream.AppSettings, error)
	// SaveAppSettings replaces app's settings with s.
	SaveAppSettings(ctx context.Context, app stream.App, s stream.AppSettings) error
}

// TokenStore keeps one-time stream tokens.
type TokenStore interface {
	// CreateToken stores t. ErrConflict if a token with t.ID exists.
	CreateToken(ctx context.Context, t stream.Token) error
	// Token returns the token with id, or ErrNotFound (expired tokens may
	// still be returned: check them with stream.Token.Check).
	Token(ctx context.Context, id string) (stream.Token, error)
	// DeleteToken removes the token with id; ErrNotFound if there is none.
	// Of concurrent deleters of one token exactly one succeeds, so that
	// deleting is how a one-time token is used up.
	DeleteToken(ctx context.Context, id string) error
	// DeleteTokens removes every token of key and returns how many.
	DeleteTokens(ctx context.Context, key stream.Key) (int, error)
}

// Settings is what the REST API keeps besides the Store: application
// settings and stream tokens. The bbolt and mongo stores implement it and
// pass portstest.RunSettings.
type Settings interface {
	AppSettingsStore
	TokenStore
}
