package balancer

import (
	"errors"
	"fmt"
	"strings"
)

// ErrNoLiveNodes is returned by Render when the registry lists no live node:
// a balancer with nowhere to send traffic would replace a working one.
var ErrNoLiveNodes = errors.New("no live nodes in the registry")

// ErrInvalidConfig is wrapped by every configuration error.
var ErrInvalidConfig = errors.New("invalid balancer configuration")

// ValidationError is a rendered configuration the balancer's own check
// (nginx -t, haproxy -c) refused. The running configuration was kept.
type ValidationError struct {
	Output string // what the check command printed
	Err    error  // how it failed
}

func (e *ValidationError) Error() string {
	out := strings.TrimSpace(e.Output)
	if out == "" {
		return fmt.Sprintf("balancer check failed: %v", e.Err)
	}
	return fmt.Sprintf("balancer check failed: %v: %s", e.Err, out)
}

func (e *ValidationError) Unwrap() error { return e.Err }

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
}
