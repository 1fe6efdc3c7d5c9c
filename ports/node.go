package ports

import (
	"context"

	"github.com/colony-live/colony/core/media"
	"github.com/colony-live/colony/core/origin"
	"github.com/colony-live/colony/core/stream"
)

// LoadSampler measures the local machine and process.
type LoadSampler interface {
	// Sample returns the machine's CPU use since the previous call (0..100),
	// the process's resident memory and the machine's total memory, in bytes.
	Sample() (cpuPercent float64, rssBytes, totalBytes uint64)
}

// Puller fetches live streams from their origins (an edge's relay client).
type Puller interface {
	// Open connects to the origin named by from and asks for key. It returns
	// once the origin has answered with the stream's tracks.
	Open(ctx context.Context, key stream.Key, from origin.Claim) (PullSession, error)
}

// PullSession is one open pull of one stream.
type PullSession interface {
	// Tracks are the stream's tracks as the origin announced them.
	Tracks() []media.Track
	// Run hands each unit received to write, in order, until the origin ends
	// the stream (nil), the connection fails, or ctx is cancelled (an error).
	// It closes the connection before returning.
	Run(ctx context.Context, write func(*media.Unit)) error
	// Close abandons a session that will not be Run. Idempotent.
	Close()
}
