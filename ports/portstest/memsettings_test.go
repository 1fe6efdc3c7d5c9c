package portstest

import (
	"context"
	"errors"
	"testing"

	"github.com/colony-live/colony/ports"
)

func TestMemSettings(t *testing.T) {
	RunSettings(t, func(t *testing.T) ports.Settings { return NewMemSettings() })
}

func TestMemSettingsDown(t *testing.T) {
	m := NewMemSettings()
	m.SetDown(true)
	if _, err := m.AppSettings(context.Background(), "LiveApp"); !errors.Is(err, ports.ErrUnavailable) {
		t.Fatalf("AppSettings while down: err = %v, want ErrUnavailable", err)
	}
	m.SetDown(false)
	if _, err := m.AppSettings(context.Background(), "LiveApp"); err != nil {
		t.Fatalf("AppSettings after coming back: %v", err)
	}
}
