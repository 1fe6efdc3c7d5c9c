package portstest

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/colony-live/colony/ports"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestMemStore(t *testing.T) {
	Run(t, func(t *testing.T) ports.Store { return NewMemStore() })
}
