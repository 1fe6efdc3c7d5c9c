package mongo

import (
	"testing"

	"github.com/colony-live/colony/adapters/mongo/mongotest"
	"github.com/colony-live/colony/ports"
	"github.com/colony-live/colony/ports/portstest"
)

func TestSettingsConformance(t *testing.T) {
	srv := mongotest.New(t)
	portstest.RunSettings(t, func(t *testing.T) ports.Settings { return openTest(t, srv, Config{}) })
}
