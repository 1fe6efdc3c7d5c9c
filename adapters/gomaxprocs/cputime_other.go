//go:build !unix

package gomaxprocs

import (
	"errors"
	"time"
)

func processCPUTime() (time.Duration, error) {
	return 0, errors.New("process CPU time is read only on unix")
}
