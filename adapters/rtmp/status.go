package rtmp

import (
	"errors"

	"github.com/yutopp/go-rtmp/message"

	"github.com/colony-live/colony/core/stream"
	"github.com/colony-live/colony/ports"
)

// Descriptions of the onStatus sent when a publish is refused.
const (
	descUnknownApp = "unknown application"
	descBusy       = "stream id is already being published"
	descInternal   = "internal server error"
	descStoreDown  = "cluster registry unavailable: publishing is paused, try again shortly"
)

// publishRefusal maps the error that refused a publish to the onStatus code
// and description sent to the publisher.
func publishRefusal(err error) (message.NetStreamOnStatusCode, string) {
	switch {
	case errors.Is(err, stream.ErrInvalidID), errors.Is(err, stream.ErrInvalidApp):
		return message.NetStreamOnStatusCodePublishBadName, err.Error()
	case errors.Is(err, ports.ErrUnknownApp):
		return message.NetStreamOnStatusCodePublishBadName, descUnknownApp
	case errors.Is(err, ports.ErrStreamBusy):
		return message.NetStreamOnStatusCodePublishBadName, descBusy
	case errors.Is(err, ports.ErrUnauthorized), errors.Is(err, ports.ErrRoleRefused), errors.Is(err, ports.ErrOverloaded):
		return message.NetStreamOnStatusCodePublishFailed, err.Error()
	case errors.Is(err, ports.ErrUnavailable):
		return message.NetStreamOnStatusCodePublishFailed, descStoreDown
	default:
		return message.NetStreamOnStatusCodePublishFailed, descInternal
	}
}
