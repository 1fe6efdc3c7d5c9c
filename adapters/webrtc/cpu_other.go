//go:build !unix

package webrtc

import "time"

// processCPU is not measured here: Config.CPULimit never refuses.
func processCPU() time.Duration { return 0 }
