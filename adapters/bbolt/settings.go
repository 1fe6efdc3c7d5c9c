package bbolt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
)

// ports.Settings in two more buckets, created on first write (a file
// written before they existed reads as empty, so schemaVersion stays 1):
//
//	bucket        key         value
//	app_settings  app name    appSettingsRecord
//	tokens        token id    tokenRecord
var (
	bucketAppSettings = []byte("app_settings")
	bucketTokens      = []byte("tokens")
)

var _ ports.Settings = (*Store)(nil)

// appSettingsRecord is a stream.AppSettings as stored.
type appSettingsRecord struct {
	HLSMuxingEnabled    bool              `json:"hlsMuxingEnabled"`
	WebRTCEnabled       bool              `json:"webRTCEnabled"`
	Ladder              []renditionRecord `json:"ladder,omitempty"`
	PublishTokenControl bool              `json:"publishTokenControl"`
	PlayTokenControl    bool              `json:"playTokenControl"`
	PublishJWTControl   bool              `json:"publishJwtControl"`
	PlayJWTControl      bool              `json:"playJwtControl"`
	JWTSecret           string            `json:"jwtSecret,omitempty"`
	UpdatedAt           time.Time         `json:"updatedAt"`
}

// tokenRecord is a stream.Token as stored; its key is ID.
type tokenRecord struct {
	ID        string    `json:"id"`
	Stream    string    `json:"stream"` // "app/id"
	Type      string    `json:"type"`
	ExpiresAt time.Time `json:"expiresAt"`
	RoomID    string    `json:"roomId,omitempty"`
}

// AppSettings returns app's settings, or the defaults when none were saved.
func (s *Store) AppSettings(ctx context.Context, app stream.App) (stream.AppSettings, error) {
	out := stream.DefaultAppSettings()
	err := s.view(ctx, "app settings "+string(app), func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketAppSettings)
		if bk == nil {
			return nil
		}
		data := bk.Get([]byte(app))
		if data == nil {
			return nil
		}
		var r appSettingsRecord
		if err := json.Unmarshal(data, &r); err != nil {
			return fmt.Errorf("decode app settings: %w", err)
		}
		out = stream.AppSettings{
			HLSMuxingEnabled: r.HLSMuxingEnabled, WebRTCEnabled: r.WebRTCEnabled,
			PublishTokenControl: r.PublishTokenControl, PlayTokenControl: r.PlayTokenControl,
			PublishJWTControl: r.PublishJWTControl, PlayJWTControl: r.PlayJWTControl,
			JWTSecret: r.JWTSecret, UpdatedAt: utc(r.UpdatedAt),
		}
		for _, x := range r.Ladder {
			out.Ladder = append(out.Ladder, stream.Rendition(x))
		}
		return nil
	})
	if err != nil {
		return stream.AppSettings{}, err
	}
	return out, nil
}

// SaveAppSettings replaces app's settings.
func (s *Store) SaveAppSettings(ctx context.Context, app stream.App, set stream.AppSettings) error {
	if app == "" {
		return errors.New("bbolt: save app settings: empty application name")
	}
	r := appSettingsRecord{
		HLSMuxingEnabled: set.HLSMuxingEnabled, WebRTCEnabled: set.WebRTCEnabled,
		PublishTokenControl: set.PublishTokenControl, PlayTokenControl: set.PlayTokenControl,
		PublishJWTControl: set.PublishJWTControl, PlayJWTControl: set.PlayJWTControl,
		JWTSecret: set.JWTSecret, UpdatedAt: utc(set.UpdatedAt),
	}
	for _, x := range set.Ladder {
		r.Ladder = append(r.Ladder, renditionRecord(x))
	}
	data, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("bbolt: save app settings %s: %w", app, err)
	}
	return s.update(ctx, "save app settings "+string(app), func(tx *bolt.Tx) error {
		bk, err := tx.CreateBucketIfNotExists(bucketAppSettings)
		if err != nil {
			return err
		}
		return bk.Put([]byte(app), data)
	})
}

// CreateToken stores t; ports.ErrConflict if its id is taken.
func (s *Store) CreateToken(ctx context.Context, t stream.Token) error {
	if t.ID == "" {
		return errors.New("bbolt: create token: empty id")
	}
	data, err := json.Marshal(tokenRecord{ID: t.ID, Stream: t.Key.String(), Type: string(t.Type), ExpiresAt: utc(t.ExpiresAt), RoomID: t.RoomID})
	if err != nil {
		return fmt.Errorf("bbolt: create token: %w", err)
	}
	return s.update(ctx, "create token", func(tx *bolt.Tx) error {
		bk, err := tx.CreateBucketIfNotExists(bucketTokens)
		if err != nil {
			return err
		}
		if bk.Get([]byte(t.ID)) != nil {
			return fmt.Errorf("token exists: %w", ports.ErrConflict)
		}
		return bk.Put([]byte(t.ID), data)
	})
}

// Token returns the token with id, or ports.ErrNotFound.
func (s *Store) Token(ctx context.Context, id string) (stream.Token, error) {
	var out stream.Token
	err := s.view(ctx, "token", func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketTokens)
		if bk == nil || id == "" {
			return fmt.Errorf("token: %w", ports.ErrNotFound)
		}
		data := bk.Get([]byte(id))
		if data == nil {
			return fmt.Errorf("token: %w", ports.ErrNotFound)
		}
		var err error
		out, err = decodeToken(data)
		return err
	})
	if err != nil {
		return stream.Token{}, err
	}
	return out, nil
}

func decodeToken(data []byte) (stream.Token, error) {
	var r tokenRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return stream.Token{}, fmt.Errorf("decode token: %w", err)
	}
	k, err := parseKey(r.Stream)
	if err != nil {
		return stream.Token{}, err
	}
	return stream.Token{ID: r.ID, Key: k, Type: stream.TokenType(r.Type), ExpiresAt: utc(r.ExpiresAt), RoomID: r.RoomID}, nil
}

// DeleteToken removes the token with id; ports.ErrNotFound if there is none.
// bbolt runs one write transaction at a time, so one deleter wins.
func (s *Store) DeleteToken(ctx context.Context, id string) error {
	return s.update(ctx, "delete token", func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketTokens)
		if bk == nil || id == "" || bk.Get([]byte(id)) == nil {
			return fmt.Errorf("token: %w", ports.ErrNotFound)
		}
		return bk.Delete([]byte(id))
	})
}

// DeleteTokens removes every token of key.
func (s *Store) DeleteTokens(ctx context.Context, key stream.Key) (int, error) {
	n := 0
	err := s.update(ctx, "delete tokens of "+key.String(), func(tx *bolt.Tx) error {
		n = 0
		bk := tx.Bucket(bucketTokens)
		if bk == nil {
			return nil
		}
		var doomed [][]byte
		err := bk.ForEach(func(k, v []byte) error {
			t, err := decodeToken(v)
			if err != nil {
				return err
			}
			if t.Key == key {
				doomed = append(doomed, append([]byte(nil), k...))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range doomed {
			if err := bk.Delete(k); err != nil {
				return err
			}
		}
		n = len(doomed)
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}
