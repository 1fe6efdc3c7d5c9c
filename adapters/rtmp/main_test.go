package rtmp

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks the package's tests for leaked goroutines.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
