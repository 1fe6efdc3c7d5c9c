package mongo

import (
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
)

// ports.Settings in two more collections. Their documents:
//
//	app_settings  {_id: app, hlsMuxingEnabled, webRTCEnabled, ladder: [renditionDoc],
//	               publishTokenControl, playTokenControl, publishJwtControl,
//	               playJwtControl, jwtSecret, updatedAt}
//	tokens        {_id: token id, app, streamId, type, expiresAt, roomId}
const (
	collAppSettings = "app_settings"
	collTokens      = "tokens"
)

var _ ports.Settings = (*Store)(nil)

type appSettingsDoc struct {
	ID                  string         `bson:"_id"`
	HLSMuxingEnabled    bool           `bson:"hlsMuxingEnabled"`
	WebRTCEnabled       bool           `bson:"webRTCEnabled"`
	Ladder              []renditionDoc `bson:"ladder,omitempty"`
	PublishTokenControl bool           `bson:"publishTokenControl"`
	PlayTokenControl    bool           `bson:"playTokenControl"`
	PublishJWTControl   bool           `bson:"publishJwtControl"`
	PlayJWTControl      bool           `bson:"playJwtControl"`
	JWTSecret           string         `bson:"jwtSecret,omitempty"`
	UpdatedAt           time.Time      `bson:"updatedAt,omitempty"`
}

type tokenDoc struct {
	ID        string    `bson:"_id"`
	App       string    `bson:"app"`
	StreamID  string    `bson:"streamId"`
	Type      string    `bson:"type"`
	ExpiresAt time.Time `bson:"expiresAt"`
	RoomID    string    `bson:"roomId,omitempty"`
}

func (s *Store) coll(name string) *mongo.Collection {
	return s.client.Database(s.cfg.Database).Collection(name)
}

// AppSettings returns app's settings, or the defaults when none were saved.
func (s *Store) AppSettings(ctx context.Context, app stream.App) (stream.AppSettings, error) {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	var d appSettingsDoc
	err := s.coll(collAppSettings).FindOne(ctx, bson.D{{Key: "_id", Value: string(app)}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return stream.DefaultAppSettings(), nil
	}
	if err != nil {
		return stream.AppSettings{}, s.fail("app settings "+string(app), err)
	}
	out := stream.AppSettings{
		HLSMuxingEnabled: d.HLSMuxingEnabled, WebRTCEnabled: d.WebRTCEnabled,
		PublishTokenControl: d.PublishTokenControl, PlayTokenControl: d.PlayTokenControl,
		PublishJWTControl: d.PublishJWTControl, PlayJWTControl: d.PlayJWTControl,
		JWTSecret: d.JWTSecret, UpdatedAt: goTime(d.UpdatedAt),
	}
	for _, r := range d.Ladder {
		out.Ladder = append(out.Ladder, stream.Rendition{
			Height: int(r.Height), VideoBitrate: int(r.VideoBitrate), AudioBitrate: int(r.AudioBitrate), ForceEncode: r.ForceEncode,
		})
	}
	return out, nil
}

// SaveAppSettings replaces app's settings (an upsert of one document).
func (s *Store) SaveAppSettings(ctx context.Context, app stream.App, set stream.AppSettings) error {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	d := appSettingsDoc{
		ID: string(app), HLSMuxingEnabled: set.HLSMuxingEnabled, WebRTCEnabled: set.WebRTCEnabled,
		PublishTokenControl: set.PublishTokenControl, PlayTokenControl: set.PlayTokenControl,
		PublishJWTControl: set.PublishJWTControl, PlayJWTControl: set.PlayJWTControl,
		JWTSecret: set.JWTSecret, UpdatedAt: dbTime(set.UpdatedAt),
	}
	for _, r := range set.Ladder {
		d.Ladder = append(d.Ladder, renditionDoc{
			Height: int64(r.Height), VideoBitrate: int64(r.VideoBitrate), AudioBitrate: int64(r.AudioBitrate), ForceEncode: r.ForceEncode,
		})
	}
	_, err := s.coll(collAppSettings).ReplaceOne(ctx, bson.D{{Key: "_id", Value: d.ID}}, d, options.Replace().SetUpsert(true))
	return s.fail("save app settings "+string(app), err)
}

// CreateToken stores t; ports.ErrConflict if its id is taken.
func (s *Store) CreateToken(ctx context.Context, t stream.Token) error {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	if t.ID == "" {
		return s.fail("create token", errors.New("empty id"))
	}
	_, err := s.coll(collTokens).InsertOne(ctx, tokenDoc{
		ID: t.ID, App: string(t.Key.App), StreamID: string(t.Key.ID), Type: string(t.Type),
		ExpiresAt: dbTime(t.ExpiresAt), RoomID: t.RoomID,
	})
	if mongo.IsDuplicateKeyError(err) {
		return s.failAs("create token", ports.ErrConflict, err)
	}
	return s.fail("create token", err)
}

// Token returns the token with id, or ports.ErrNotFound.
func (s *Store) Token(ctx context.Context, id string) (stream.Token, error) {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	var d tokenDoc
	if err := s.coll(collTokens).FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d); err != nil {
		return stream.Token{}, s.fail("token", err)
	}
	k, err := stream.ParseKey(d.App, d.StreamID)
	if err != nil {
		return stream.Token{}, s.fail("token", err)
	}
	return stream.Token{ID: d.ID, Key: k, Type: stream.TokenType(d.Type), ExpiresAt: goTime(d.ExpiresAt), RoomID: d.RoomID}, nil
}

// DeleteToken removes the token with id; ports.ErrNotFound if there is
// none. A single-document delete is atomic: one concurrent deleter wins.
func (s *Store) DeleteToken(ctx context.Context, id string) error {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	res, err := s.coll(collTokens).DeleteOne(ctx, bson.D{{Key: "_id", Value: id}})
	if err != nil {
		return s.fail("delete token", err)
	}
	if res.DeletedCount == 0 {
		return s.failAs("delete token", ports.ErrNotFound, errors.New("no such token"))
	}
	return nil
}

// DeleteTokens removes every token of key.
func (s *Store) DeleteTokens(ctx context.Context, key stream.Key) (int, error) {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	res, err := s.coll(collTokens).DeleteMany(ctx, bson.D{{Key: "app", Value: string(key.App)}, {Key: "streamId", Value: string(key.ID)}})
	if err != nil {
		return 0, s.fail("delete tokens of "+key.String(), err)
	}
	return int(res.DeletedCount), nil
}
