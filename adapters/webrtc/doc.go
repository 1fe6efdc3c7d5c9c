// Package webrtc publishes and plays live streams over WebRTC (WHIP, WHEP and Ant Media's WebSocket signalling), on pion.
package webrtc
