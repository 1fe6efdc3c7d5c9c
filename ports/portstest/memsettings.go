package portstest

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
)

// MemSettings is an in-memory ports.Settings for unit tests (it passes
// RunSettings). SetDown makes every call fail with ports.ErrUnavailable.
type MemSettings struct {
	mu       sync.Mutex
	down     bool
	settings map[stream.App]stream.AppSettings
	tokens   map[string]stream.Token
}

var _ ports.Settings = (*MemSettings)(nil)

// NewMemSettings returns an empty settings store.
func NewMemSettings() *MemSettings {
	return &MemSettings{settings: map[stream.App]stream.AppSettings{}, tokens: map[string]stream.Token{}}
}

// SetDown makes the store unreachable (true) or reachable again.
func (m *MemSettings) SetDown(down bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.down = down
}

func (m *MemSettings) lock(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	if m.down {
		m.mu.Unlock()
		return fmt.Errorf("memsettings: %w", ports.ErrUnavailable)
	}
	return nil
}

func (m *MemSettings) AppSettings(ctx context.Context, app stream.App) (stream.AppSettings, error) {
	if err := m.lock(ctx); err != nil {
		return stream.AppSettings{}, err
	}
	defer m.mu.Unlock()
	s, ok := m.settings[app]
	if !ok {
		return stream.DefaultAppSettings(), nil
	}
	s.Ladder = slices.Clone(s.Ladder)
	return s, nil
}

func (m *MemSettings) SaveAppSettings(ctx context.Context, app stream.App, s stream.AppSettings) error {
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	s.Ladder = slices.Clone(s.Ladder)
	m.settings[app] = s
	return nil
}

func (m *MemSettings) CreateToken(ctx context.Context, t stream.Token) error {
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	if _, ok := m.tokens[t.ID]; ok {
		return fmt.Errorf("memsettings: token: %w", ports.ErrConflict)
	}
	m.tokens[t.ID] = t
	return nil
}

func (m *MemSettings) Token(ctx context.Context, id string) (stream.Token, error) {
	if err := m.lock(ctx); err != nil {
		return stream.Token{}, err
	}
	defer m.mu.Unlock()
	t, ok := m.tokens[id]
	if !ok {
		return stream.Token{}, fmt.Errorf("memsettings: token: %w", ports.ErrNotFound)
	}
	return t, nil
}

func (m *MemSettings) DeleteToken(ctx context.Context, id string) error {
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	if _, ok := m.tokens[id]; !ok {
		return fmt.Errorf("memsettings: token: %w", ports.ErrNotFound)
	}
	delete(m.tokens, id)
	return nil
}

func (m *MemSettings) DeleteTokens(ctx context.Context, key stream.Key) (int, error) {
	if err := m.lock(ctx); err != nil {
		return 0, err
	}
	defer m.mu.Unlock()
	n := 0
	for id, t := range m.tokens {
		if t.Key == key {
			delete(m.tokens, id)
			n++
		}
	}
	return n, nil
}
