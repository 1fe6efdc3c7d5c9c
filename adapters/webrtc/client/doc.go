// Package client publishes (WHIP) and plays (WHEP, Ant Media WebSocket) live streams over WebRTC with pion, for tests and load generators.
package client
