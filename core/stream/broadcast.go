package stream

import (
	"errors"
	"fmt"
	"time"
)

// Status is a broadcast's lifecycle state, named as Ant Media Server names them.
type Status string

// The lifecycle states.
const (
	StatusCreated                Status = "created"
	StatusBroadcasting           Status = "broadcasting"
	StatusFinished               Status = "finished"
	StatusFailed                 Status = "failed"
	StatusTerminatedUnexpectedly Status = "terminated_unexpectedly"
)

// Valid reports whether s is one of the lifecycle states.
func (s Status) Valid() bool {
	switch s {
	case StatusCreated, StatusBroadcasting, StatusFinished, StatusFailed, StatusTerminatedUnexpectedly:
		return true
	}
	return false
}

// ErrBadTransition is returned (wrapped) when a lifecycle change is not allowed.
var ErrBadTransition = errors.New("invalid broadcast status transition")

// CanTransition reports whether a broadcast in state from may move to state to.
func CanTransition(from, to Status) bool {
	switch from {
	case StatusCreated:
		return to == StatusBroadcasting || to == StatusFailed
	case StatusBroadcasting:
		return to == StatusFinished || to == StatusFailed || to == StatusTerminatedUnexpectedly
	case StatusFinished, StatusFailed:
		return to == StatusBroadcasting
	case StatusTerminatedUnexpectedly:
		return to == StatusBroadcasting || to == StatusFinished
	}
	return false
}

// Publish types, as Ant Media names them.
const (
	PublishRTMP   = "RTMP"
	PublishWebRTC = "WebRTC"
	PublishPull   = "Pull"
)

// Broadcast is the durable record of one stream: what the REST API lists and
// what survives a restart.
type Broadcast struct {
	Key         Key
	Name        string
	Status      Status
	Type        string // "liveStream"
	PublishType string // PublishRTMP, PublishWebRTC
	OriginNode  string // id of the node that ingests it
	OriginAddr  string // the origin's advertised address
	CreatedAt   time.Time
	StartTime   time.Time // when the current or last broadcast started
	EndTime     time.Time // when it ended; zero while broadcasting
	UpdatedAt   time.Time
	Width       int
	Height      int
	Bitrate     int // bits per second, measured at ingest
	VideoCodec  string
	AudioCodec  string
	// Viewers counts current viewers per protocol.
	HLSViewers    int
	WebRTCViewers int
	RTMPViewers   int
	// Ladder is the per-broadcast ABR ladder, if any (empty: the app's).
	Ladder []Rendition
}

// Rendition is one rung of an adaptive-bitrate ladder, in Ant Media's form.
type Rendition struct {
	Height       int
	VideoBitrate int // bits per second
	AudioBitrate int // bits per second
	ForceEncode  bool
}

// NewBroadcast returns a record in the created state.
func NewBroadcast(k Key, now time.Time) Broadcast {
	return Broadcast{Key: k, Name: string(k.ID), Status: StatusCreated, Type: "liveStream", CreatedAt: now, UpdatedAt: now}
}

// Transition moves b to state to at time now, stamping start and end times.
func (b *Broadcast) Transition(to Status, now time.Time) error {
	if b.Status == to {
		return nil
	}
	if !CanTransition(b.Status, to) {
		return fmt.Errorf("%w: %s -> %s for %s", ErrBadTransition, b.Status, to, b.Key)
	}
	b.Status = to
	b.UpdatedAt = now
	if to == StatusBroadcasting {
		b.StartTime = now
		b.EndTime = time.Time{}
	} else {
		b.EndTime = now
		b.HLSViewers, b.WebRTCViewers, b.RTMPViewers = 0, 0, 0
	}
	return nil
}

// Live reports whether the broadcast is currently on air.
func (b Broadcast) Live() bool { return b.Status == StatusBroadcasting }
