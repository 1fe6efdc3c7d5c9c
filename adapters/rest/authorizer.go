package rest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
)

// Authorizer enforces the stream tokens an application asks for
// (ports.Authorizer), on every node that takes publishers or viewers,
// edges included: the settings and tokens are read from the store the
// REST API writes them to, which a cluster shares.
//
// The token is the request's "token" query parameter; the protocol
// adapters put there RTMP's ?token=, the HLS playlist's ?token=, a
// WHIP/WHEP bearer token and the WebSocket commands' token field.
//
// Semantics, per application setting (Ant Media's names):
//
//   - publishTokenControlEnabled: a one-time token of type publish for the
//     stream (GET /{app}/rest/v2/broadcasts/{id}/token?type=publish). It
//     is used up by the publish that shows it, even if that publish is
//     then refused for another reason (the stream is busy), as in Ant
//     Media; of concurrent publishers showing one token, one gets in.
//   - playTokenControlEnabled: a one-time token of type play. It is NOT
//     used up: it lets in every request that shows it until its
//     expireDate. A player asks many times (each HLS playlist request,
//     each rendition of an adaptive playlist, a WebRTC reconnect); Ant
//     Media ties a play token to the first HTTP session instead, which a
//     cluster of stateless nodes cannot do. DELETE .../tokens revokes it.
//   - publishJwtControlEnabled / playJwtControlEnabled: an HS256 JWT
//     signed with jwtStreamSecretKey whose claims are streamId, type and
//     exp (VerifyStreamJWT); valid until exp, for any number of uses.
//   - A play token (of either kind) for stream S also lets in S's
//     transcoded renditions S_{N}p, which the adaptive playlist plays.
//   - With both kinds of control on for a direction, either kind of token
//     passes: a token shaped like a JWT (three dot-separated parts) is
//     checked as a JWT, anything else as a one-time token.
//
// Settings are read through ports.Settings once per publish or play
// start, and reused for CacheFor. When they cannot be read, the last
// settings read for the app are used whatever their age (the store being
// down changes nothing an administrator asked for); when none was ever
// read, the request is refused (fail closed: this node cannot know that
// the app is open). A one-time token that cannot be checked because the
// store is down is refused too. Every refusal wraps ports.ErrUnauthorized
// and says why: no token, unknown or used-up token, expired, for another
// stream or use (stream.ErrTokenMismatch), or settings unavailable
// (also wrapping the store's error, ports.ErrUnavailable).
type Authorizer struct {
	cfg      AuthorizerConfig
	settings ports.Settings

	mu    sync.Mutex
	cache map[stream.App]cachedSettings
}

var _ ports.Authorizer = (*Authorizer)(nil)

// AuthorizerConfig configures an Authorizer. The zero value uses the defaults.
type AuthorizerConfig struct {
	// CacheFor is how long an application's settings are reused before
	// they are read again (default 2s; negative: read on every request).
	CacheFor time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives warnings about an unreachable store (default slog.Default()).
	Logger *slog.Logger
}

// DefaultSettingsCacheFor is AuthorizerConfig.CacheFor's default.
const DefaultSettingsCacheFor = 2 * time.Second

// cachedSettings is an application's settings as last read.
type cachedSettings struct {
	set  stream.AppSettings
	read time.Time
}

// NewAuthorizer returns an Authorizer reading settings and tokens from settings.
func NewAuthorizer(cfg AuthorizerConfig, settings ports.Settings) (*Authorizer, error) {
	if settings == nil {
		return nil, errors.New("authorizer: a settings store is required")
	}
	if cfg.CacheFor == 0 {
		cfg.CacheFor = DefaultSettingsCacheFor
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Authorizer{cfg: cfg, settings: settings, cache: make(map[stream.App]cachedSettings)}, nil
}

// AuthorizePublish implements ports.Authorizer.
func (a *Authorizer) AuthorizePublish(ctx context.Context, req ports.PublishRequest) error {
	set, err := a.appSettings(ctx, req.Key.App)
	if err != nil {
		return fmt.Errorf("%w: publish %s: %w", ports.ErrUnauthorized, req.Key, err)
	}
	if err := a.check(ctx, set.PublishTokenControl, set.PublishJWTControl, set.JWTSecret,
		req.Query.Get("token"), req.Key, stream.TokenPublish); err != nil {
		return fmt.Errorf("publish %s: %w", req.Key, err)
	}
	return nil
}

// AuthorizePlay implements ports.Authorizer.
func (a *Authorizer) AuthorizePlay(ctx context.Context, req ports.PlayRequest) error {
	set, err := a.appSettings(ctx, req.Key.App)
	if err != nil {
		return fmt.Errorf("%w: play %s: %w", ports.ErrUnauthorized, req.Key, err)
	}
	tok := req.Query.Get("token")
	err = a.check(ctx, set.PlayTokenControl, set.PlayJWTControl, set.JWTSecret, tok, req.Key, stream.TokenPlay)
	if errors.Is(err, stream.ErrTokenMismatch) {
		// A rendition S_{N}p plays with a token for S.
		if parent, ok := renditionParent(req.Key); ok {
			if perr := a.check(ctx, set.PlayTokenControl, set.PlayJWTControl, set.JWTSecret, tok, parent, stream.TokenPlay); perr == nil {
				return nil
			}
		}
	}
	if err != nil {
		return fmt.Errorf("play %s: %w", req.Key, err)
	}
	return nil
}

// check applies an application's controls for one direction to tok.
func (a *Authorizer) check(ctx context.Context, oneTime, useJWT bool, secret, tok string, key stream.Key, typ stream.TokenType) error {
	if !oneTime && !useJWT {
		return nil
	}
	if tok == "" {
		return fmt.Errorf("%w: the application requires a %s token (?token=)", ports.ErrUnauthorized, typ)
	}
	if useJWT && (!oneTime || looksLikeJWT(tok)) {
		return VerifyStreamJWT([]byte(secret), tok, key.ID, typ, a.cfg.Now())
	}
	var err error
	if typ == stream.TokenPublish {
		err = UseToken(ctx, a.settings, tok, key, typ, a.cfg.Now())
	} else {
		err = CheckToken(ctx, a.settings, tok, key, typ, a.cfg.Now())
	}
	if err != nil && !errors.Is(err, ports.ErrUnauthorized) {
		// The store could not say: refuse.
		return fmt.Errorf("%w: cannot check the token: %w", ports.ErrUnauthorized, err)
	}
	return err
}

// looksLikeJWT reports whether tok has a JWT's three dot-separated parts
// (a one-time token is hex digits).
func looksLikeJWT(tok string) bool { return strings.Count(tok, ".") == 2 }

// renditionParent returns S for a key S_{N}p (N digits), the id of a
// transcoded rendition.
func renditionParent(key stream.Key) (stream.Key, bool) {
	id := string(key.ID)
	i := strings.LastIndexByte(id, '_')
	if i <= 0 {
		return stream.Key{}, false
	}
	num, ok := strings.CutSuffix(id[i+1:], "p")
	if !ok || num == "" || len(num) > 5 || strings.Trim(num, "0123456789") != "" {
		return stream.Key{}, false
	}
	parent, err := stream.ParseID(id[:i])
	if err != nil {
		return stream.Key{}, false
	}
	return stream.Key{App: key.App, ID: parent}, true
}

// appSettings returns app's settings: cached when read less than CacheFor
// ago, else read again; the last read when the store fails.
func (a *Authorizer) appSettings(ctx context.Context, app stream.App) (stream.AppSettings, error) {
	now := a.cfg.Now()
	a.mu.Lock()
	c, ok := a.cache[app]
	a.mu.Unlock()
	if ok && now.Sub(c.read) < a.cfg.CacheFor && !now.Before(c.read) {
		return c.set, nil
	}
	set, err := a.settings.AppSettings(ctx, app)
	if err != nil {
		if ok {
			a.cfg.Logger.Warn("cannot read application settings; using the last ones read",
				"app", string(app), "read_at", c.read, "err", err)
			return c.set, nil
		}
		return stream.AppSettings{}, fmt.Errorf("cannot read the settings of application %s: %w", app, err)
	}
	a.mu.Lock()
	a.cache[app] = cachedSettings{set: set, read: now}
	a.mu.Unlock()
	return set, nil
}
